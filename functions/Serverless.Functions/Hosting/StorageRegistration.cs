using Microsoft.Extensions.Options;
using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Documents;
using Serverless.Core.Storage.Queues;
using Serverless.Storage.Azure;
using Serverless.Storage.Cosmos;
using Serverless.Storage.Sqlite;

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

        builder.Services.AddSingleton<IDocumentStore>(sp => CreateDocumentStore(sp.GetRequiredService<IOptions<DocumentStoreOptions>>().Value, sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton(sp => ToAzureOptions(sp.GetRequiredService<IOptions<StorageOptions>>().Value));
        builder.Services.AddSingleton<IBlobStore>(sp => new AzureBlobStore(sp.GetRequiredService<AzureStorageOptions>()));
        builder.Services.AddSingleton<IQueueStore>(sp => new AzureQueueStore(sp.GetRequiredService<AzureStorageOptions>()));
        return builder;
    }

    private static IDocumentStore CreateDocumentStore(DocumentStoreOptions options, ILoggerFactory loggers)
    {
        if (options.IsCosmos)
        {
            return new CosmosDocumentStore(
                new CosmosDocumentStoreOptions
                {
                    Endpoint = new Uri(options.CosmosEndpoint!),
                    Key = string.IsNullOrWhiteSpace(options.CosmosKey) ? null : options.CosmosKey,
                    ManagedIdentityClientId = string.IsNullOrWhiteSpace(options.CosmosManagedIdentityClientId) ? null : options.CosmosManagedIdentityClientId,
                    DatabaseName = options.CosmosDatabase!,
                    ConnectionMode = string.Equals(options.CosmosConnectionMode, "Direct", StringComparison.OrdinalIgnoreCase)
                        ? CosmosConnectionMode.Direct
                        : CosmosConnectionMode.Gateway,
                },
                loggers.CreateLogger<CosmosDocumentStore>());
        }

        var path = Path.GetFullPath(options.SqlitePath!);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return new SqliteDocumentStore(new SqliteDocumentStoreOptions(path), loggers.CreateLogger<SqliteDocumentStore>());
    }

    private static AzureStorageOptions ToAzureOptions(StorageOptions options) => options.UsesConnectionString
        ? AzureStorageOptions.FromConnectionString(options.ConnectionString!)
        : new AzureStorageOptions(
            new Uri(options.BlobEndpoint!),
            new Uri(options.QueueEndpoint!),
            ManagedIdentityClientId: string.IsNullOrWhiteSpace(options.ManagedIdentityClientId) ? null : options.ManagedIdentityClientId);

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
