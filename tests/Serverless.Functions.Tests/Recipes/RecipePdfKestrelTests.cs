using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Functions.Recipes;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Recipes;

/// <summary>
/// The PDF cap on a real Kestrel socket with a chunked body (no Content-Length), so the limit can only
/// be seen while streaming: the in-memory test server may learn the length up front.
/// </summary>
[Collection(AzuriteFixture.Collection)]
public sealed class RecipePdfKestrelTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private const int Cap = 64 * 1024;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"recipes-kestrel-{Guid.NewGuid():N}");
    private readonly string _container = AzuriteFixture.UniqueName("recipes");
    private FunctionsAppFactory _factory = null!;

    public Task InitializeAsync()
    {
        _factory = FunctionsAppFactory.Standalone(new()
        {
            ["urls"] = "http://127.0.0.1:0",
            ["DocumentStore:SqlitePath"] = Path.Combine(_dir, "platform.db"),
            ["Storage:ConnectionString"] = azurite.ConnectionString,
            ["Bootstrap:AdminApiKey"] = IdentityApp.AdminKey,
            ["Recipes:MaxInstructionsPdfBytes"] = Cap.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Recipes:BlobContainer"] = _container,
        });
        _factory.UseKestrel();
        _factory.StartServer();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _factory.DisposeAsync();
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task Upload_ChunkedOverTheCapOnKestrel_413AndNoBlobCommitted()
    {
        // Arrange
        // A plain client: the factory's own client buffers request bodies (to replay redirects) and would send a Content-Length.
        var address = _factory.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        using var client = new HttpClient { BaseAddress = new Uri(address) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", IdentityApp.AdminKey);
        using var project = await client.PostAsJsonAsync("/api/projects", new { name = "p" });
        var projectId = (await project.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        using var created = await client.PostAsJsonAsync($"/api/projects/{projectId}/recipes", new { name = "r", classes = Array.Empty<object>() });
        var recipeId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var body = new byte[Cap + 16 * 1024];
        "%PDF-1.7\n"u8.CopyTo(body);
        using var content = new ChunkedContent(body);

        // Act
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/api/projects/{projectId}/recipes/{recipeId}/instructions/pdf") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var response = await client.SendAsync(request);
        var recipe = (await client.GetFromJsonAsync<Recipe>($"/api/projects/{projectId}/recipes/{recipeId}", IdentityApp.Json))!;
        await azurite.BlobStore.CreateContainerIfNotExistsAsync(_container);
        var blobs = await azurite.BlobStore.ListAsync(_container);

        // Assert
        Assert.Null(content.Headers.ContentLength);
        Assert.True(content.Chunked);
        await IdentityApp.AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Null(recipe.InstructionsPdf);
        Assert.Empty(blobs.Items);
    }

    /// <summary>A body of unknown length: HttpClient sends it with Transfer-Encoding: chunked.</summary>
    private sealed class ChunkedContent(byte[] bytes) : HttpContent
    {
        public bool Chunked { get; private set; }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            Chunked = true;
            for (var offset = 0; offset < bytes.Length; offset += 4096)
            {
                await stream.WriteAsync(bytes.AsMemory(offset, Math.Min(4096, bytes.Length - offset)));
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
