using System.Net;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Serverless.Functions.Hosting;
using Serverless.Functions.Local;
using Serverless.Testing;

namespace Serverless.Functions.Tests;

/// <summary>Custom handler mode when <c>FUNCTIONS_CUSTOMHANDLER_PORT</c> is set; standalone otherwise.</summary>
public sealed class HostingModeTests
{
    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void FromConfiguration_NoPortVariable_Standalone()
    {
        // Act
        var mode = FunctionsHostingMode.FromConfiguration(Config());

        // Assert
        Assert.Equal(new FunctionsHostingMode(HostingKind.Standalone, null), mode);
    }

    [Fact]
    public void FromConfiguration_PortVariable_CustomHandlerOnThatPort()
    {
        // Act
        var mode = FunctionsHostingMode.FromConfiguration(Config((FunctionsHostingMode.PortVariable, "43117")));

        // Assert
        Assert.True(mode.IsCustomHandler);
        Assert.Equal(43117, mode.CustomHandlerPort);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("0")]
    [InlineData("70000")]
    [InlineData("-5")]
    public void FromConfiguration_InvalidPort_ThrowsNamingTheVariable(string value)
    {
        // Act
        var error = Assert.Throws<InvalidOperationException>(() => FunctionsHostingMode.FromConfiguration(Config((FunctionsHostingMode.PortVariable, value))));

        // Assert
        Assert.Contains(FunctionsHostingMode.PortVariable, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task App_CustomHandlerMode_NoLocalPollersOrWatcher()
    {
        // Arrange
        await using var factory = FunctionsAppFactory.CustomHandler();

        // Act
        var hosted = factory.Services.GetServices<IHostedService>().Select(s => s.GetType()).ToList();

        // Assert
        Assert.True(factory.Services.GetRequiredService<FunctionsHostingMode>().IsCustomHandler);
        Assert.DoesNotContain(typeof(QueuePollerService), hosted);
        Assert.DoesNotContain(typeof(BlobWatcherService), hosted);
    }

    [Fact]
    public async Task App_StandaloneMode_RunsPollersAndWatcherOnDefaultLoopbackUrl()
    {
        // Arrange
        await using var factory = FunctionsAppFactory.Standalone();

        // Act
        var hosted = factory.Services.GetServices<IHostedService>().Select(s => s.GetType()).ToList();
        var urls = factory.Services.GetRequiredService<IConfiguration>()["urls"];

        // Assert
        Assert.False(factory.Services.GetRequiredService<FunctionsHostingMode>().IsCustomHandler);
        Assert.Contains(typeof(QueuePollerService), hosted);
        Assert.Contains(typeof(BlobWatcherService), hosted);
        Assert.Equal(FunctionsHostingMode.DefaultStandaloneUrl, urls);
    }

    [Fact]
    public async Task App_StandaloneWithUrls_KeepsTheConfiguredUrls()
    {
        // Arrange
        await using var factory = FunctionsAppFactory.Standalone(new() { ["urls"] = "http://127.0.0.1:5099" });

        // Act
        var urls = factory.Services.GetRequiredService<IConfiguration>()["urls"];

        // Assert
        Assert.Equal("http://127.0.0.1:5099", urls);
    }

    [Fact]
    public async Task App_StorageNotConfigured_FailsAtStartNamingTheKeys()
    {
        // Arrange
        await using var factory = new FunctionsAppFactory(new Dictionary<string, string?> { ["Storage:ConnectionString"] = "" });

        // Act
        var error = Assert.Throws<OptionsValidationException>(() => factory.Services);

        // Assert
        Assert.Contains("Storage:ConnectionString", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Executable_PortVariableSet_ServesInvocationsOnThatLoopbackPort()
    {
        // Arrange: the real executable, started the way the Functions host starts it.
        var port = LocalProcess.FreePorts(1)[0];
        var environment = new Dictionary<string, string>
        {
            [FunctionsHostingMode.PortVariable] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Storage__ConnectionString"] = FunctionsAppFactory.AzuriteConnectionString,
            ["DocumentStore__SqlitePath"] = Path.Combine(Path.GetTempPath(), "functions-exe-test.db"),
        };
        var dll = Path.Combine(AppContext.BaseDirectory, "Serverless.Functions.dll");
        await using var process = await LocalProcess.StartAsync("dotnet", [dll], [port], TimeSpan.FromSeconds(30), environment);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        // Act
        using var invocation = await client.PostAsync(new Uri("/DurableControl", UriKind.Relative), new StringContent(Fixtures.Read("queue-invocation.json"), Encoding.UTF8, "application/json"));
        var body = await invocation.Content.ReadAsStringAsync();

        // Assert: no handler is registered yet, so the invocation fails in the host's format.
        Assert.Equal(HttpStatusCode.InternalServerError, invocation.StatusCode);
        Assert.Contains("\"Logs\":[", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Executable_NoPortVariable_ServesTheApiOnTheGivenUrlWithoutInvocationEndpoint()
    {
        // Arrange
        var port = LocalProcess.FreePorts(1)[0];
        var environment = new Dictionary<string, string>
        {
            ["Storage__ConnectionString"] = FunctionsAppFactory.AzuriteConnectionString,
            ["DocumentStore__SqlitePath"] = Path.Combine(Path.GetTempPath(), "functions-exe-test.db"),
        };
        var dll = Path.Combine(AppContext.BaseDirectory, "Serverless.Functions.dll");
        await using var process = await LocalProcess.StartAsync("dotnet", [dll, "--urls", $"http://127.0.0.1:{port}"], [port], TimeSpan.FromSeconds(30), environment);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        // Act
        using var health = await client.GetAsync(new Uri("/api/health", UriKind.Relative));
        using var invocation = await client.PostAsync(new Uri("/DurableControl", UriKind.Relative), new StringContent("{}", Encoding.UTF8, "application/json"));

        // Assert
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, invocation.StatusCode);
    }
}
