using Microsoft.Extensions.Options;
using Serverless.Core.Storage.Blobs;

namespace Serverless.Functions.Recipes;

/// <summary>
/// The blob container of instruction PDFs, created on first use rather than at start-up, so that the
/// app starts (and serves recipes) while blob storage is still coming up.
/// </summary>
public sealed class RecipeBlobs(IBlobStore blobs, IOptions<RecipeOptions> options) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile bool _ensured;

    public IBlobStore Store => blobs;

    public string Container => options.Value.BlobContainer;

    public async Task EnsureContainerAsync(CancellationToken ct)
    {
        if (_ensured)
        {
            return;
        }

        await _gate.WaitAsync(ct);
        try
        {
            if (!_ensured)
            {
                await blobs.CreateContainerIfNotExistsAsync(Container, ct);
                _ensured = true;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

    /// <summary>Deletes a blob that is no longer referenced; a failure leaves an orphan, never a dangling reference.</summary>
    public async Task DeleteQuietlyAsync(string name, CancellationToken ct)
    {
        try
        {
            await blobs.DeleteAsync(Container, name, ct);
        }
        catch (BlobStoreException)
        {
            // An orphaned PDF costs storage only; the recipe no longer points at it.
        }
        catch (HttpRequestException)
        {
            // Same: blob storage unreachable right now.
        }
    }
}
