using System.Security.Cryptography;
using System.Text;
using Serverless.Storage.Azure;

namespace Serverless.Storage.Tests.Azure;

public sealed class SharedKeySignerTests
{
    [Fact]
    public void BuildStringToSign_PathStyleBlockUpload_FollowsSpecFieldOrder()
    {
        // Arrange
        using var request = new HttpRequestMessage(HttpMethod.Put, "http://127.0.0.1:10000/devstoreaccount1/photos/my%20cat.jpg?comp=block&blockid=QUJD%3D")
        {
            Content = new ByteArrayContent([1, 2, 3, 4, 5]),
        };
        request.Headers.TryAddWithoutValidation("x-ms-date", "Tue, 24 Nov 2026 10:00:00 GMT");
        request.Headers.TryAddWithoutValidation("x-ms-version", "2024-11-04");
        request.Headers.TryAddWithoutValidation("x-ms-meta-Zeta", "  two   words ");
        request.Headers.TryAddWithoutValidation("x-ms-meta-alpha", "1");
        request.Headers.TryAddWithoutValidation("If-None-Match", "*");

        // Act
        var stringToSign = SharedKeySigner.BuildStringToSign(request, "devstoreaccount1");

        // Assert
        const string expected =
            "PUT\n" + "\n" + "\n" + "5\n" + "\n" + "\n" + "\n" + "\n" + "\n" + "*\n" + "\n" + "\n" +
            "x-ms-date:Tue, 24 Nov 2026 10:00:00 GMT\n" +
            "x-ms-meta-alpha:1\n" +
            "x-ms-meta-zeta:two words\n" +
            "x-ms-version:2024-11-04\n" +
            "/devstoreaccount1/devstoreaccount1/photos/my%20cat.jpg\n" +
            "blockid:QUJD=\n" +
            "comp:block";
        Assert.Equal(expected, stringToSign);
    }

    [Fact]
    public void BuildStringToSign_EmptyBodyAndRepeatedQuery_LeavesLengthEmptyAndJoinsSortedValues()
    {
        // Arrange
        using var request = new HttpRequestMessage(HttpMethod.Get, "https://acct.queue.core.windows.net/jobs/messages?NumOfMessages=3&b=2&b=1")
        {
            Content = new ByteArrayContent([]),
        };
        request.Headers.TryAddWithoutValidation("x-ms-date", "d");

        // Act
        var stringToSign = SharedKeySigner.BuildStringToSign(request, "acct");

        // Assert
        Assert.StartsWith("GET\n\n\n\n", stringToSign, StringComparison.Ordinal);
        Assert.EndsWith("x-ms-date:d\n/acct/jobs/messages\nb:1,2\nnumofmessages:3", stringToSign, StringComparison.Ordinal);
    }

    [Fact]
    public void Sign_DevelopmentKey_AddsHmacSha256OfStringToSign()
    {
        // Arrange
        var signer = new SharedKeySigner("devstoreaccount1", AzureStorageOptions.DevelopmentAccountKey);
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:10000/devstoreaccount1/c?restype=container");
        request.Headers.TryAddWithoutValidation("x-ms-date", "Tue, 24 Nov 2026 10:00:00 GMT");
        var expected = Convert.ToBase64String(HMACSHA256.HashData(
            Convert.FromBase64String(AzureStorageOptions.DevelopmentAccountKey),
            Encoding.UTF8.GetBytes(SharedKeySigner.BuildStringToSign(request, "devstoreaccount1"))));

        // Act
        signer.Sign(request);

        // Assert
        Assert.Equal($"SharedKey devstoreaccount1:{expected}", string.Join(",", request.Headers.GetValues("Authorization")));
    }
}
