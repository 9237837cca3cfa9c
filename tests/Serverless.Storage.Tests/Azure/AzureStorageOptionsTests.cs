using Serverless.Storage.Azure;

namespace Serverless.Storage.Tests.Azure;

public sealed class AzureStorageOptionsTests
{
    [Fact]
    public void FromConnectionString_UseDevelopmentStorage_UsesAzuriteDefaults()
    {
        // Act
        var options = AzureStorageOptions.FromConnectionString("UseDevelopmentStorage=true");

        // Assert
        Assert.Equal(new Uri("http://127.0.0.1:10000/devstoreaccount1"), options.BlobEndpoint);
        Assert.Equal(new Uri("http://127.0.0.1:10001/devstoreaccount1"), options.QueueEndpoint);
        Assert.Equal("devstoreaccount1", options.AccountName);
        Assert.Equal(AzureStorageOptions.DevelopmentAccountKey, options.AccountKey);
    }

    [Fact]
    public void FromConnectionString_ExplicitPathStyleEndpoints_KeepsThemAndKeyPadding()
    {
        // Act
        var options = AzureStorageOptions.FromConnectionString(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + AzureStorageOptions.DevelopmentAccountKey +
            ";BlobEndpoint=http://127.0.0.1:41000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:41001/devstoreaccount1/;");

        // Assert
        Assert.Equal(new Uri("http://127.0.0.1:41000/devstoreaccount1"), options.BlobEndpoint);
        Assert.Equal("http://127.0.0.1:41001/devstoreaccount1", options.QueueEndpoint.AbsoluteUri);
        Assert.EndsWith("==", options.AccountKey, StringComparison.Ordinal);
        Assert.True(options.UsesSharedKey);
    }

    [Fact]
    public void FromConnectionString_AccountWithoutKey_DerivesEndpointsForEntraId()
    {
        // Act
        var options = AzureStorageOptions.FromConnectionString("DefaultEndpointsProtocol=https;AccountName=prodacct;EndpointSuffix=core.windows.net");

        // Assert
        Assert.Equal(new Uri("https://prodacct.blob.core.windows.net"), options.BlobEndpoint);
        Assert.Equal(new Uri("https://prodacct.queue.core.windows.net"), options.QueueEndpoint);
        Assert.Null(options.AccountKey);
        Assert.False(options.UsesSharedKey);
    }

    [Theory]
    [InlineData("AccountKey=abc=")]
    [InlineData("AccountName=a;AccountKey=not base64!")]
    [InlineData("garbage")]
    [InlineData("DefaultEndpointsProtocol=ftp;AccountName=a")]
    [InlineData("AccountName=a;BlobEndpoint=not-a-url")]
    public void FromConnectionString_Malformed_ThrowsFormatException(string connectionString)
    {
        // Act
        var error = Assert.Throws<FormatException>(() => AzureStorageOptions.FromConnectionString(connectionString));

        // Assert
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
        Assert.DoesNotContain("not base64!", error.Message, StringComparison.Ordinal);
    }
}
