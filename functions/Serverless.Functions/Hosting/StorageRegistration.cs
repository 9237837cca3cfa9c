using Microsoft.Extensions.Options;

namespace Serverless.Functions.Hosting;

/// <summary>
/// The one place where the storage ports (<c>IDocumentStore</c>, <c>IBlobStore</c>, <c>IQueueStore</c>)
/// get their adapters. Everything else in this app depends on the ports only.
/// </summary>
public static class StorageRegistration
{
    /// <summary>Binds and validates the storage settings, then registers the adapters they select.</summary>
    public static IHostApplicationBuilder AddStorage(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<DocumentStoreOptions>()
            .BindConfiguration(DocumentStoreOptions.Section)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<DocumentStoreOptions>>(new ListValidator<DocumentStoreOptions>(o => o.Validate()));
        builder.Services.AddOptions<StorageOptions>()
            .BindConfiguration(StorageOptions.Section)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<StorageOptions>>(new ListValidator<StorageOptions>(o => o.Validate()));

        // ───── ADAPTERS GO HERE (wired by the lead after merging the storage branches) ─────
        // IDocumentStore: DocumentStoreOptions.IsSqlite → SQLite adapter; IsCosmos → Cosmos adapter.
        // IBlobStore, IQueueStore: StorageOptions → Azure Storage REST adapters (Shared Key or managed identity).
        // Until then no port is registered: /api/health reports each store "down: not configured",
        // the local pollers stay idle, and handlers that need a port fail loudly.
        // ─────────────────────────────────────────────────────────────────────────────────────
        return builder;
    }

    /// <summary>Turns a list of error messages into an options validation result.</summary>
    private sealed class ListValidator<T>(Func<T, IReadOnlyList<string>> validate) : IValidateOptions<T>
        where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options)
        {
            var errors = validate(options);
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
