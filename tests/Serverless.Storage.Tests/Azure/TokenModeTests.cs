using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Web;
using global::Azure.Core;
using Serverless.Core.Storage.Blobs;
using Serverless.Storage.Azure;

namespace Serverless.Storage.Tests.Azure;

/// <summary>Entra ID mode, which Azurite only offers over HTTPS: checked at the HTTP boundary with a recording handler.</summary>
public sealed class TokenModeTests
{
    private static readonly AzureStorageOptions Options = new(new Uri("https://acct.blob.core.windows.net"), new Uri("https://acct.queue.core.windows.net"), "acct");

    [Fact]
    public async Task CreateContainerIfNotExistsAsync_TokenCredential_SendsBearerWithBearerCapableVersionAndCachesToken()
    {
        // Arrange
        var credential = new CountingCredential();
        var handler = new RecordingHandler(_ => new HttpResponseMessage(HttpStatusCode.Created));
        using var http = new HttpClient(handler);
        var store = new AzureBlobStore(Options, credential, http);

        // Act
        await store.CreateContainerIfNotExistsAsync("images");
        await store.CreateContainerIfNotExistsAsync("videos");

        // Assert
        Assert.Equal(2, handler.Requests.Count);
        Assert.All(handler.Requests, r => Assert.Equal("Bearer token-1", r.Authorization));
        Assert.All(handler.Requests, r => Assert.True(string.CompareOrdinal(r.Version, "2017-11-09") >= 0));
        Assert.Equal(1, credential.Calls);
        Assert.Equal(["https://storage.azure.com/.default"], credential.LastScopes);
    }

    [Fact]
    public async Task CreateSasUriAsync_TokenMode_SignsUserDelegationSasWithDelegationKey()
    {
        // Arrange
        var delegationKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var handler = new RecordingHandler(_ => new HttpResponseMessage(HttpStatusCode.OK)
        {
            Content = new StringContent(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><UserDelegationKey><SignedOid>oid-1</SignedOid><SignedTid>tid-1</SignedTid>" +
                "<SignedStart>2026-11-24T00:00:00Z</SignedStart><SignedExpiry>2026-12-01T00:00:00Z</SignedExpiry><SignedService>b</SignedService>" +
                $"<SignedVersion>2024-11-04</SignedVersion><Value>{delegationKey}</Value></UserDelegationKey>"),
        });
        using var http = new HttpClient(handler);
        var store = new AzureBlobStore(Options, new CountingCredential(), http);

        // Act
        var sas = await store.CreateSasUriAsync("exports", "labels/v1.json", BlobSasPermissions.Read, DateTimeOffset.UtcNow.AddHours(1));
        var q = HttpUtility.ParseQueryString(sas.Query);

        // Assert
        Assert.Equal("POST", handler.Requests.Single().Method);
        Assert.Contains("comp=userdelegationkey", handler.Requests.Single().Uri, StringComparison.Ordinal);
        Assert.Equal("oid-1", q["skoid"]);
        Assert.Equal("b", q["sr"]);
        Assert.Equal("https", q["spr"]);
        var stringToSign = string.Join('\n', "r", q["st"], q["se"], "/blob/acct/exports/labels/v1.json", "oid-1", "tid-1", "2026-11-24T00:00:00Z", "2026-12-01T00:00:00Z", "b", "2024-11-04", string.Empty, string.Empty, string.Empty, string.Empty, "https", q["sv"], "b", string.Empty, string.Empty, string.Empty, string.Empty, string.Empty, string.Empty, string.Empty);
        var expected = Convert.ToBase64String(HMACSHA256.HashData(Convert.FromBase64String(delegationKey), Encoding.UTF8.GetBytes(stringToSign)));
        Assert.Equal(expected, q["sig"]);
        Assert.StartsWith("https://acct.blob.core.windows.net/exports/labels/v1.json?", sas.AbsoluteUri, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DownloadAsync_ServerErrorThenSuccess_RetriesIdempotentRead()
    {
        // Arrange
        var calls = 0;
        var handler = new RecordingHandler(_ => ++calls == 1
            ? new HttpResponseMessage(HttpStatusCode.ServiceUnavailable)
            : new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(Encoding.UTF8.GetBytes("ok")) });
        using var http = new HttpClient(handler);
        var store = new AzureBlobStore(Options, new CountingCredential(), http);

        // Act
        await using var download = await store.DownloadAsync("c1c", "a.txt");
        var text = await new StreamReader(download.Content).ReadToEndAsync();

        // Assert
        Assert.Equal("ok", text);
        Assert.Equal(2, calls);
    }

    private sealed class CountingCredential : TokenCredential
    {
        public int Calls { get; private set; }

        public string[] LastScopes { get; private set; } = [];

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            GetTokenAsync(requestContext, cancellationToken).AsTask().GetAwaiter().GetResult();

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            Calls++;
            LastScopes = requestContext.Scopes;
            return ValueTask.FromResult(new AccessToken(string.Create(CultureInfo.InvariantCulture, $"token-{Calls}"), DateTimeOffset.UtcNow.AddHours(1)));
        }
    }

    private sealed record RecordedRequest(string Method, string Uri, string? Authorization, string? Version);

    private sealed class RecordingHandler(Func<HttpRequestMessage, HttpResponseMessage> respond) : HttpMessageHandler
    {
        public List<RecordedRequest> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests.Add(new RecordedRequest(
                request.Method.Method,
                request.RequestUri!.AbsoluteUri,
                request.Headers.TryGetValues("Authorization", out var auth) ? auth.Single() : null,
                request.Headers.TryGetValues("x-ms-version", out var version) ? version.Single() : null));
            return Task.FromResult(respond(request));
        }
    }
}
