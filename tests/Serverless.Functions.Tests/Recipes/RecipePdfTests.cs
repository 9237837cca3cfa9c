using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Serverless.Functions.Recipes;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Recipes;

/// <summary>The instructions PDF through HTTP on SQLite and a real Azurite: streamed upload, sniffing, cap, signed download, replacement and removal.</summary>
[Collection(AzuriteFixture.Collection)]
public sealed class RecipePdfTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private const int Cap = 64 * 1024;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"recipes-pdf-{Guid.NewGuid():N}");
    private readonly string _container = AzuriteFixture.UniqueName("recipes");
    private FunctionsAppFactory _factory = null!;
    private HttpClient _client = null!;
    private string _projectId = "";
    private string _recipeId = "";

    private string RecipeUri => $"/api/projects/{_projectId}/recipes/{_recipeId}";

    public async Task InitializeAsync()
    {
        _factory = FunctionsAppFactory.Standalone(new()
        {
            ["DocumentStore:SqlitePath"] = Path.Combine(_dir, "platform.db"),
            ["Storage:ConnectionString"] = azurite.ConnectionString,
            ["Bootstrap:AdminApiKey"] = IdentityApp.AdminKey,
            ["Recipes:MaxInstructionsPdfBytes"] = Cap.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Recipes:BlobContainer"] = _container,
        });
        using var admin = Client(IdentityApp.AdminKey);
        using var user = await admin.PostAsJsonAsync("/api/orgs/o_default/users", new { name = "owner", email = "owner@example.com", orgRole = "Member" });
        var key = (await user.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("apiKey").GetProperty("key").GetString()!;
        _client = Client(key);
        using var project = await _client.PostAsJsonAsync("/api/projects", new { name = "p" });
        _projectId = (await project.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        using var recipe = await _client.PostAsJsonAsync($"/api/projects/{_projectId}/recipes", new { name = "r", classes = Array.Empty<object>(), instructions = "See the PDF." });
        _recipeId = (await recipe.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _factory.DisposeAsync();
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private HttpClient Client(string key)
    {
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    private static byte[] Pdf(int size, byte fill = (byte)'x')
    {
        var bytes = new byte[size];
        Array.Fill(bytes, fill);
        "%PDF-1.7\n"u8.CopyTo(bytes);
        return bytes;
    }

    private async Task<HttpResponseMessage> UploadAsync(HttpContent content) =>
        await _client.PutAsync(new Uri(RecipeUri + "/instructions/pdf", UriKind.Relative), content);

    private async Task<List<string>> BlobsAsync()
    {
        // The app creates the container on the first upload that passes the checks; a refused one may never create it.
        await azurite.BlobStore.CreateContainerIfNotExistsAsync(_container);
        return [.. (await azurite.BlobStore.ListAsync(_container, $"{_projectId}/{_recipeId}/")).Items.Select(b => b.Name)];
    }

    [Fact]
    public async Task Upload_Pdf_200ThenSignedLinkDownloadsTheSameBytes()
    {
        // Arrange
        var pdf = Pdf(40_000, (byte)'a');

        // Act
        using var upload = await UploadAsync(new ByteArrayContent(pdf));
        var recipe = (await upload.Content.ReadFromJsonAsync<Recipe>(IdentityApp.Json))!;
        var instructions = (await _client.GetFromJsonAsync<RecipeInstructions>(RecipeUri + "/instructions", IdentityApp.Json))!;
        using var anonymous = new HttpClient();
        var downloaded = await anonymous.GetByteArrayAsync(instructions.Pdf!.DownloadUrl);

        // Assert
        Assert.Equal(HttpStatusCode.OK, upload.StatusCode);
        Assert.NotNull(upload.Headers.ETag);
        Assert.Equal(pdf.Length, recipe.InstructionsPdf!.Size);
        Assert.Equal("See the PDF.", instructions.Text);
        Assert.Equal(pdf.Length, instructions.Pdf.Size);
        Assert.True(instructions.Pdf.ExpiresOn > DateTimeOffset.UtcNow);
        Assert.Equal(pdf, downloaded);
    }

    [Fact]
    public async Task Upload_NotAPdfDespiteContentType_415AndNothingStored()
    {
        // Arrange
        using var content = new ByteArrayContent("\x89PNG\r\n\x1a\n not a pdf"u8.ToArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/pdf");

        // Act
        using var response = await UploadAsync(content);
        using var empty = await UploadAsync(new ByteArrayContent([]));
        var instructions = (await _client.GetFromJsonAsync<RecipeInstructions>(RecipeUri + "/instructions", IdentityApp.Json))!;

        // Assert
        await IdentityApp.AssertProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
        await IdentityApp.AssertProblemAsync(empty, HttpStatusCode.UnsupportedMediaType);
        Assert.Null(instructions.Pdf);
    }

    [Fact]
    public async Task Upload_OverTheCapWithContentLength_413()
    {
        // Act
        using var response = await UploadAsync(new ByteArrayContent(Pdf(Cap + 1)));
        var recipe = (await _client.GetFromJsonAsync<Recipe>(RecipeUri, IdentityApp.Json))!;

        // Assert
        await IdentityApp.AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Null(recipe.InstructionsPdf);
    }

    [Fact]
    public async Task Upload_OverTheCapChunked_413AndNoBlobCommitted()
    {
        // Arrange: a chunked body; the streaming cap itself is covered by LimitedReadStreamTests.
        using var content = new UnknownLengthContent(Pdf(Cap * 3));

        // Act
        using var response = await UploadAsync(content);
        var recipe = (await _client.GetFromJsonAsync<Recipe>(RecipeUri, IdentityApp.Json))!;

        // Assert
        await IdentityApp.AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Null(recipe.InstructionsPdf);
        Assert.Empty(await BlobsAsync());
    }

    [Fact]
    public async Task Upload_ExactlyTheCapStreamed_200()
    {
        // Act
        using var response = await UploadAsync(new UnknownLengthContent(Pdf(Cap)));

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Single(await BlobsAsync());
    }

    [Fact]
    public async Task Upload_Replace_OldBlobDeletedNewOneServed()
    {
        // Arrange
        using var first = await UploadAsync(new ByteArrayContent(Pdf(1000, (byte)'1')));
        var firstBlob = Assert.Single(await BlobsAsync());

        // Act
        using var second = await UploadAsync(new ByteArrayContent(Pdf(2000, (byte)'2')));
        var blobs = await BlobsAsync();
        var instructions = (await _client.GetFromJsonAsync<RecipeInstructions>(RecipeUri + "/instructions", IdentityApp.Json))!;
        using var anonymous = new HttpClient();
        var downloaded = await anonymous.GetByteArrayAsync(instructions.Pdf!.DownloadUrl);

        // Assert
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var current = Assert.Single(blobs);
        Assert.NotEqual(firstBlob, current);
        Assert.Equal(2000, downloaded.Length);
        Assert.Equal((byte)'2', downloaded[^1]);
    }

    [Fact]
    public async Task Upload_StaleIfMatch_412AndNoBlobKept()
    {
        // Arrange
        using var get = await _client.GetAsync(new Uri(RecipeUri, UriKind.Relative));
        var etag = get.Headers.ETag!;
        using var change = await _client.PutAsJsonAsync(RecipeUri, new { name = "changed", classes = Array.Empty<object>() });
        using var content = new ByteArrayContent(Pdf(100));
        using var request = new HttpRequestMessage(HttpMethod.Put, RecipeUri + "/instructions/pdf") { Content = content };
        request.Headers.IfMatch.Add(etag);

        // Act
        using var response = await _client.SendAsync(request);

        // Assert
        Assert.Equal(HttpStatusCode.OK, change.StatusCode);
        await IdentityApp.AssertProblemAsync(response, HttpStatusCode.PreconditionFailed);
        Assert.Empty(await BlobsAsync());
    }

    [Fact]
    public async Task DeletePdf_Attached_204BlobGone_SecondTime404()
    {
        // Arrange
        using var upload = await UploadAsync(new ByteArrayContent(Pdf(500)));

        // Act
        using var deleted = await _client.DeleteAsync(new Uri(RecipeUri + "/instructions/pdf", UriKind.Relative));
        using var again = await _client.DeleteAsync(new Uri(RecipeUri + "/instructions/pdf", UriKind.Relative));
        var instructions = (await _client.GetFromJsonAsync<RecipeInstructions>(RecipeUri + "/instructions", IdentityApp.Json))!;

        // Assert
        Assert.Equal(HttpStatusCode.OK, upload.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await IdentityApp.AssertProblemAsync(again, HttpStatusCode.NotFound);
        Assert.Null(instructions.Pdf);
        Assert.Empty(await BlobsAsync());
    }

    [Fact]
    public async Task DeleteRecipe_WithPdf_204AndBlobGone()
    {
        // Arrange
        using var upload = await UploadAsync(new ByteArrayContent(Pdf(500)));
        Assert.Single(await BlobsAsync());

        // Act
        using var deleted = await _client.DeleteAsync(new Uri(RecipeUri, UriKind.Relative));

        // Assert
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Empty(await BlobsAsync());
    }

    /// <summary>A body sent without Content-Length (chunked), as a client streaming a file of unknown size would.</summary>
    private sealed class UnknownLengthContent(byte[] bytes) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (var offset = 0; offset < bytes.Length; offset += 8192)
            {
                await stream.WriteAsync(bytes.AsMemory(offset, Math.Min(8192, bytes.Length - offset)));
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
