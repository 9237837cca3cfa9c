using Serverless.Core.Storage.Documents;
using Serverless.Functions.Datasets;

namespace Serverless.Functions.Items;

/// <summary>Recording new items: atomic batches of items, path claims and the dataset counter's increments.</summary>
public sealed partial class ItemStore
{
    /// <summary>
    /// Records items whose blobs are already stored: per batch of <see cref="ItemsPerBatch"/>, the item
    /// and path-claim documents plus the dataset counter's increments in one atomic write. A batch that fails on an
    /// entry is retried entry by entry so the others still land. Returns, per entry, null or its error.
    /// </summary>
    public async Task<IReadOnlyList<Exception?>> WriteAsync(string datasetId, IReadOnlyList<NewItem> items, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(items);
        var write = await BeginWriteAsync(datasetId, ct);
        foreach (var item in items)
        {
            write.Add(item);
        }

        return await write.CompleteAsync();
    }

    private async Task<ItemWrite> BeginWriteAsync(string datasetId, CancellationToken ct)
    {
        var partition = DatasetContainers.ItemPartition(datasetId);
        return new ItemWrite(this, partition, await claims.HasLegacyAsync(partition, ct) ? claims : null, ct);
    }

    /// <summary>
    /// One atomic batch: the chunk's items at <paramref name="positions"/> with their path claims, and the counter's
    /// increments. Null when written, else the error (a taken path as <see cref="ItemPathTakenException"/>).
    /// </summary>
    private async Task<Exception?> TryWriteBatchAsync(string partition, ItemWrite.Chunk chunk, IReadOnlyList<int> positions, CancellationToken ct)
    {
        var operations = new List<BatchOperation>((positions.Count * 2) + 1);
        foreach (var k in positions)
        {
            operations.Add(BatchOperation.CreateRaw(chunk.Items[k].Item.Id, chunk.Bodies[k]));
            operations.Add(BatchOperation.CreateRaw(chunk.Claims[k].Id, chunk.Claims[k].Body));
        }

        operations.Add(BatchOperation.PatchOf(DatasetContainers.StatsId, CounterIncrements(TypeCounts(positions.Select(k => chunk.Items[k].Item.Type), +1))));
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await Items.ExecuteBatchAsync(partition, operations, ct);
                return null;
            }
            catch (DocumentBatchFailedException ex) when (ex.OperationIndex == operations.Count - 1 && ex.InnerException is DocumentNotFoundException && attempt < MaxAttempts)
            {
                // The counter was deleted meanwhile (a forced dataset delete): create it again, as a first write would.
                await EnsureCounterAsync(partition, ct);
            }
            catch (DocumentBatchFailedException ex) when (ex.OperationIndex < operations.Count - 1)
            {
                var entry = chunk.Items[positions[ex.OperationIndex / 2]];
                return ex.OperationIndex % 2 == 1 && ex.InnerException is DocumentConflictException
                    ? new ItemPathTakenException(entry.Item.Path)
                    : ex;
            }
            catch (DocumentStoreException ex) when (ex is DocumentBatchFailedException or InvalidDocumentException)
            {
                return ex;
            }
        }
    }

    /// <summary>
    /// New items written while more are still being added: every <see cref="ItemsPerBatch"/> items become a chunk whose
    /// documents are serialized and written at once on the thread pool, so a bulk request's reading overlaps its
    /// writes instead of preceding them.
    /// </summary>
    /// <remarks>
    /// The chunks are independent (the counter moves by patch increments, which never conflict), so up to
    /// <see cref="WriteParallelism"/> are in flight: the SQLite store commits the ones that queue up meanwhile in one
    /// transaction (a savepoint each, so each still succeeds or fails alone), which writes every hot index page once per
    /// commit instead of once per chunk; on Cosmos DB they are concurrent requests to one partition. A chunk that fails
    /// is written again entry by entry once all are done, so only the failing entries report an error.
    /// </remarks>
    private sealed class ItemWrite(ItemStore store, string partition, PathClaims? legacyClaims, CancellationToken ct)
    {
        private readonly List<(Chunk Chunk, Task<Exception?> Written)> _chunks = [];
        private List<NewItem> _pending = new(ItemsPerBatch);
        private Task? _counter;
        private int _added;

        /// <summary>Adds an item; every <see cref="ItemsPerBatch"/> items start a batch.</summary>
        public void Add(NewItem item)
        {
            _pending.Add(item);
            if (_pending.Count == ItemsPerBatch)
            {
                Launch();
            }
        }

        /// <summary>Writes what is left and waits for every batch; per item added (in order), null or its error.</summary>
        public async Task<IReadOnlyList<Exception?>> CompleteAsync()
        {
            if (_pending.Count > 0)
            {
                Launch();
            }

            await Task.WhenAll(_chunks.Select(c => c.Written));
            var errors = new Exception?[_added];
            var redo = new List<(Chunk Chunk, int Position)>();
            foreach (var (chunk, written) in _chunks)
            {
                for (var k = 0; k < chunk.Items.Count; k++)
                {
                    errors[chunk.Start + k] = chunk.Taken.Contains(k) ? new ItemPathTakenException(chunk.Items[k].Item.Path) : null;
                }

                if (written.Result is not { } error)
                {
                    continue;
                }

                if (chunk.Writable.Count == 1)
                {
                    errors[chunk.Start + chunk.Writable[0]] = error;
                }
                else
                {
                    redo.AddRange(chunk.Writable.Select(k => (chunk, k)));
                }
            }

            await Parallel.ForEachAsync(redo, new ParallelOptions { MaxDegreeOfParallelism = WriteParallelism, CancellationToken = ct }, async (entry, token) =>
                errors[entry.Chunk.Start + entry.Position] = await store.TryWriteBatchAsync(partition, entry.Chunk, [entry.Position], token));
            return errors;
        }

        private void Launch()
        {
            _counter ??= store.EnsureCounterAsync(partition, ct);
            var chunk = new Chunk(_added, _pending);
            _added += _pending.Count;
            _pending = new List<NewItem>(ItemsPerBatch);

            // At most WriteParallelism batches in flight: each waits for the one that many places before it.
            var turn = _chunks.Count >= WriteParallelism ? _chunks[^WriteParallelism].Written : Task.CompletedTask;
            _chunks.Add((chunk, Task.Run(() => WriteAsync(chunk, turn), ct)));
        }

        private async Task<Exception?> WriteAsync(Chunk chunk, Task turn)
        {
            await _counter!;
            if (legacyClaims is not null)
            {
                // Paths an item of a legacy dataset holds under a hashed claim (see PathClaims): refused here, the rest written.
                chunk.Taken = await legacyClaims.LegacyTakenAsync(partition, [.. chunk.Items.Select(i => i.Item.Path)], ct);
            }

            chunk.Serialize(partition);
            await turn.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            return chunk.Writable.Count == 0 ? null : await store.TryWriteBatchAsync(partition, chunk, chunk.Writable, ct);
        }

        /// <summary>Up to <see cref="ItemsPerBatch"/> items, from position <see cref="Start"/> of the write, and their documents.</summary>
        public sealed class Chunk(int start, IReadOnlyList<NewItem> items)
        {
            public int Start => start;

            public IReadOnlyList<NewItem> Items => items;

            /// <summary>Positions whose paths a legacy claim already takes.</summary>
            public IReadOnlySet<int> Taken { get; set; } = new HashSet<int>();

            /// <summary>Positions to write: all but <see cref="Taken"/>.</summary>
            public List<int> Writable { get; private set; } = [];

            public byte[][] Bodies { get; } = new byte[items.Count][];

            public (string Id, byte[] Body)[] Claims { get; } = new (string, byte[])[items.Count];

            /// <summary>Serializes each item and claim once: a batch redone entry by entry reuses them.</summary>
            public void Serialize(string partition)
            {
                using var documents = new DocumentWriter(partition);
                var writable = new List<int>(items.Count);
                for (var k = 0; k < items.Count; k++)
                {
                    if (Taken.Contains(k))
                    {
                        continue;
                    }

                    Bodies[k] = documents.Item(items[k]);
                    var claimId = PathClaims.Id(items[k].Item.Path);
                    Claims[k] = (claimId, documents.Claim(claimId, items[k].Item));
                    writable.Add(k);
                }

                Writable = writable;
            }
        }
    }
}
