using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Storage.Sqlite;

namespace Serverless.Functions.Tests.Identity;

/// <summary>First-start bootstrap on a real SQLite file, including two instances starting at once.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xunit disposes the store through IAsyncLifetime.DisposeAsync.")]
public sealed class BootstrapTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"bootstrap-{Guid.NewGuid():N}");
    private SqliteDocumentStore _store = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(Path.Combine(_dir, "platform.db")), NullLogger<SqliteDocumentStore>.Instance);
        await new DocumentContainersStartup(_store, IdentityContainers.All).StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Start_TwoInstancesAtOnceWithoutConfiguredKey_OneAdminOneKeyPrintedOnce()
    {
        // Arrange
        var logs = new CapturingLogger();
        var identity = new IdentityStore(_store, TimeProvider.System);
        var instances = Enumerable.Range(0, 4)
            .Select(_ => new IdentityBootstrap(new IdentityStore(_store, TimeProvider.System), Options.Create(new BootstrapOptions()), logs, TimeProvider.System))
            .ToList();

        // Act
        await Task.WhenAll(instances.Select(i => i.StartAsync(CancellationToken.None)));
        await instances[0].StartAsync(CancellationToken.None); // a restart does nothing

        // Assert
        var printed = Assert.Single(logs.Messages, m => m.Contains("shown only this once", StringComparison.Ordinal));
        var keys = await identity.ListApiKeysAsync(IdentityBootstrap.AdminUserId, CancellationToken.None);
        var key = Assert.Single(keys);
        var admin = await identity.GetUserAsync(IdentityBootstrap.AdminUserId, CancellationToken.None);
        Assert.True(admin!.IsPlatformAdmin);
        var printedKey = printed.Split(' ').Single(w => w.StartsWith(ApiKeyHashing.Prefix, StringComparison.Ordinal));
        var authenticator = new ApiKeyAuthenticator(identity, TimeProvider.System);
        Assert.Equal(IdentityBootstrap.AdminUserId, (await authenticator.AuthenticateAsync(printedKey, CancellationToken.None))?.UserId);
        Assert.Equal(key.Id, ApiKeyHashing.KeyId(ApiKeyHashing.Hash(printedKey)));
    }

    [Fact]
    public void Options_ShortConfiguredKey_Invalid()
    {
        // Arrange
        var options = new BootstrapOptions { AdminApiKey = "short" };

        // Act
        var errors = options.Validate();

        // Assert
        Assert.Contains("Bootstrap:AdminApiKey", Assert.Single(errors), StringComparison.Ordinal);
    }

    private sealed class CapturingLogger : ILogger<IdentityBootstrap>
    {
        private readonly List<string> _messages = [];

        public IReadOnlyList<string> Messages
        {
            get
            {
                lock (_messages)
                {
                    return [.. _messages];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_messages)
            {
                _messages.Add(formatter(state, exception));
            }
        }
    }
}
