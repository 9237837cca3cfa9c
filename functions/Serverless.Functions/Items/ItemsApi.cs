using System.Security.Claims;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Serverless.Core.Filters;
using Serverless.Core.Items;
using Serverless.Core.Storage.Blobs;
using Serverless.Functions.Datasets;
using Serverless.Functions.Functions;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Items;

/// <summary>What the item endpoints need from DI.</summary>
public sealed record ItemServices(DatasetStore Datasets, ItemStore Items, IOptions<ItemsOptions> Options);

/// <summary>Items of a dataset (<c>api/projects/{projectId}/datasets/{datasetId}/items</c>).</summary>
/// <remarks>
/// Every handler first resolves the dataset inside the route's project, so a dataset or item id of
/// another project is a 404 even for a caller who is a member of both.
/// </remarks>
public static class ItemsApi
{
    /// <summary>Default validity of a download link, in minutes.</summary>
    public const int DefaultLinkMinutes = 15;

    public static IEndpointRouteBuilder MapItemsApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var items = app.MapGroup("api/projects/{projectId}/datasets/{datasetId}/items").WithTags("Items");
        items.MapPut("/", UploadAsync).WithName("UploadItem").RequirePermission(Permission.ItemsWrite)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status409Conflict);
        items.MapPost("/bulk", BulkCreateAsync).WithName("BulkCreateItems").RequirePermission(Permission.ItemsWrite)
            .Accepts<BulkItemsRequest>("application/json");
        items.MapPost("/upload-url", UploadUrlAsync).WithName("RequestItemUploadUrl").RequirePermission(Permission.ItemsWrite)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status409Conflict);
        items.MapGet("/uploads/{itemId}", UploadStatusAsync).WithName("GetItemUpload").RequirePermission(Permission.ItemsRead);
        items.MapPost("/query", QueryAsync).WithName("QueryItems").RequirePermission(Permission.ItemsRead);
        items.MapPost("/tags", TagAsync).WithName("TagItems").RequirePermission(Permission.ItemsWrite);
        items.MapGet("/{itemId}", GetAsync).WithName("GetItem").RequirePermission(Permission.ItemsRead);
        items.MapDelete("/{itemId}", DeleteAsync).WithName("DeleteItem").RequirePermission(Permission.ItemsDelete);
        items.MapGet("/{itemId}/download-url", DownloadUrlAsync).WithName("GetItemDownloadUrl").RequirePermission(Permission.ItemsRead);
        items.MapGet("/{itemId}/content", ContentAsync).WithName("GetItemContent").RequirePermission(Permission.ItemsRead)
            .Produces(StatusCodes.Status200OK, contentType: "application/octet-stream");
        return app;
    }

    /// <summary>
    /// <c>PUT ...items?path=/folder/name.png</c> with the file as the raw body, streamed to blob storage.
    /// The client's Content-Type is ignored (any is accepted; no <c>Accepts</c> metadata, which would make
    /// routing answer 415 before access checks): the type is sniffed from the bytes.
    /// </summary>
    internal static async Task<Results<Created<Item>, ValidationProblem, ProblemHttpResult>> UploadAsync(
        string projectId, string datasetId, string? path, HttpRequest request, ClaimsPrincipal principal, [AsParameters] ItemServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!await services.Datasets.ExistsAsync(projectId, datasetId, ct))
        {
            return DatasetsApi.NotFound(projectId, datasetId);
        }

        if (string.IsNullOrEmpty(path))
        {
            return Problems.Validation("path", "'path' is required: the item's full path, e.g. /folder/name.png.");
        }

        string folder, name;
        try
        {
            (folder, name) = ItemPath.SplitFullPath(path);
        }
        catch (ItemPathException ex)
        {
            return Problems.Validation("path", ex.Message);
        }

        var limit = services.Options.Value.MaxUploadBytes;
        if (request.ContentLength > limit)
        {
            return TooLarge(limit);
        }

        // The server-wide body limit (Kestrel: 30 MB) is replaced by ours for this request only.
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit)
        {
            bodyLimit.MaxRequestBodySize = limit;
        }

        try
        {
            var item = await services.Items.UploadAsync(projectId, datasetId, folder, name, request.Body, Caller.From(principal).UserId, ct);
            return TypedResults.Created($"/api/projects/{projectId}/datasets/{datasetId}/items/{item.Id}", item);
        }
        catch (ItemPathTakenException ex)
        {
            return Problems.Conflict(ex.Message);
        }
        catch (UploadTooLargeException)
        {
            return TooLarge(limit);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge(limit);
        }
    }

    /// <summary>
    /// <c>POST .../items/upload-url</c>: a time-limited signed URL to PUT the file straight into blob
    /// storage; the BlobCreated event then ingests it (type sniffed, image size read, size capped).
    /// </summary>
    internal static async Task<Results<Ok<UploadTicket>, ValidationProblem, ProblemHttpResult>> UploadUrlAsync(
        string projectId, string datasetId, UploadUrlRequest request, ClaimsPrincipal principal, [AsParameters] ItemServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!await services.Datasets.ExistsAsync(projectId, datasetId, ct))
        {
            return DatasetsApi.NotFound(projectId, datasetId);
        }

        var options = services.Options.Value;
        string folder, name;
        try
        {
            folder = ItemPath.NormalizeFolder(request.Folder ?? ItemPath.Root);
        }
        catch (ItemPathException ex)
        {
            return Problems.Validation("folder", ex.Message);
        }

        try
        {
            name = ItemPath.NormalizeName(request.Name ?? throw new ItemPathException(ItemPathProblem.Empty, "'name' is required."));
            _ = ItemPath.Combine(folder, name);
        }
        catch (ItemPathException ex)
        {
            return Problems.Validation("name", ex.Message);
        }

        if (request.Size is not { } size || size < 0)
        {
            return Problems.Validation("size", "'size' is required: the file's length in bytes (0 or more).");
        }

        if (size > options.MaxUploadBytes)
        {
            return TooLarge(options.MaxUploadBytes);
        }

        if (request.ContentType is { } type && (type.Length > 255 || type.Any(char.IsControl)))
        {
            return Problems.Validation("contentType", "'contentType' must be at most 255 characters without control characters.");
        }

        var minutes = request.Minutes ?? Math.Min(DefaultLinkMinutes, options.MaxLinkMinutes);
        if (minutes < 1 || minutes > options.MaxLinkMinutes)
        {
            return Problems.Validation("minutes", $"'minutes' must be between 1 and {options.MaxLinkMinutes}; it is {minutes}.");
        }

        try
        {
            return TypedResults.Ok(await services.Items.RequestUploadAsync(projectId, datasetId, folder, name, request.ContentType, size, Caller.From(principal).UserId, TimeSpan.FromMinutes(minutes), ct));
        }
        catch (ItemPathTakenException ex)
        {
            return Problems.Conflict(ex.Message);
        }
    }

    /// <summary><c>GET .../items/uploads/{itemId}</c>: pending, ingested (with the item) or rejected (with the reason).</summary>
    internal static async Task<Results<Ok<UploadStatus>, ProblemHttpResult>> UploadStatusAsync(
        string projectId, string datasetId, string itemId, [AsParameters] ItemServices services, CancellationToken ct)
    {
        var status = await services.Datasets.ExistsAsync(projectId, datasetId, ct) ? await services.Items.GetUploadAsync(datasetId, itemId, ct) : null;
        return status is not null ? TypedResults.Ok(status) : Problems.NotFound($"Dataset '{datasetId}' has no upload '{itemId}'.");
    }

    /// <summary><c>POST .../items/bulk</c>: up to 5,000 JSON text items (<see cref="BulkItemsRequest"/>), one result per entry.</summary>
    /// <remarks>
    /// The body is read whole (within the server's request size limit, as the model binder did) and then entry by entry
    /// without a JSON tree (<see cref="BulkItemsReader"/>), so the first batches are written while later entries are read.
    /// </remarks>
    internal static async Task<Results<Ok<BulkItemsResponse>, ValidationProblem, ProblemHttpResult>> BulkCreateAsync(
        string projectId, string datasetId, HttpRequest request, ClaimsPrincipal principal, [AsParameters] ItemServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!await services.Datasets.ExistsAsync(projectId, datasetId, ct))
        {
            return DatasetsApi.NotFound(projectId, datasetId);
        }

        try
        {
            // No cap of its own: the server's body size limit bounds it, as it bounded the binder (a pooled buffer sized
            // from Content-Length was measured against this and made no difference: 16,029-16,343 vs 15,868-16,932 items/s).
            var body = await ReadCappedAsync(request.Body, int.MaxValue, ct);
            return TypedResults.Ok(await services.Items.BulkCreateJsonAsync(projectId, datasetId, body, Caller.From(principal).UserId, ct));
        }
        catch (BulkRequestException ex)
        {
            return Problems.Validation(ex.Field, ex.Message);
        }
    }

    /// <summary><c>POST .../items/query</c> with a filter request (see the filter language's README).</summary>
    internal static async Task<Results<Ok<Page<Item>>, ValidationProblem, ProblemHttpResult>> QueryAsync(
        string projectId, string datasetId, HttpRequest request, [AsParameters] ItemServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!await services.Datasets.ExistsAsync(projectId, datasetId, ct))
        {
            return DatasetsApi.NotFound(projectId, datasetId);
        }

        var body = await ReadCappedAsync(request.Body, FilterLimits.MaxRequestBytes + 1, ct);
        try
        {
            var query = FilterCompiler.Compile(body.Length == 0 ? "{}"u8 : body, FieldCatalogs.Items);
            return TypedResults.Ok(await services.Items.QueryAsync(datasetId, query, ct));
        }
        catch (FilterException ex)
        {
            // The JSON pointer names the offending part; "" (the whole body) is reported as "filter".
            return Problems.Validation(ex.Path.Length == 0 ? "filter" : ex.Path, ex.Message);
        }
    }

    /// <summary>
    /// <c>POST .../items/tags</c>: add/remove tags on up to 1,000 items by id list, or on one page of a
    /// filter (repeat with the returned continuation until it is null).
    /// </summary>
    internal static async Task<Results<Ok<TagItemsResponse>, ValidationProblem, ProblemHttpResult>> TagAsync(
        string projectId, string datasetId, TagItemsRequest request, [AsParameters] ItemServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!await services.Datasets.ExistsAsync(projectId, datasetId, ct))
        {
            return DatasetsApi.NotFound(projectId, datasetId);
        }

        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var add = CheckTags("add", request.Add, errors);
        var remove = CheckTags("remove", request.Remove, errors);
        if (errors.Count == 0 && add.Count + remove.Count == 0)
        {
            errors["add"] = ["Give at least one tag in 'add' or 'remove'."];
        }

        if (add.Intersect(remove, StringComparer.Ordinal).FirstOrDefault() is { } both)
        {
            errors["remove"] = [$"Tag '{both}' is both added and removed."];
        }

        var hasIds = request.Ids is not null;
        var hasQuery = request.Query is { ValueKind: not System.Text.Json.JsonValueKind.Null };
        if (hasIds == hasQuery)
        {
            errors["ids"] = ["Give exactly one of 'ids' (a list of item ids) and 'query' (a filter request)."];
        }
        else if (request.Ids is { } ids && (ids.Count is 0 or > ItemStore.MaxTagBatch || ids.Any(id => id is null)))
        {
            errors["ids"] = [$"'ids' must hold 1 to {ItemStore.MaxTagBatch} item ids (no nulls); for more, use 'query'."];
        }

        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        try
        {
            return TypedResults.Ok(hasIds
                ? await services.Items.TagByIdsAsync(datasetId, [.. request.Ids!.Select(id => id!)], add, remove, ct)
                : await services.Items.TagByQueryAsync(datasetId, FilterCompiler.Compile(request.Query!.Value, FieldCatalogs.Items), add, remove, ct));
        }
        catch (FilterException ex)
        {
            return Problems.Validation("/query" + ex.Path, ex.Message);
        }
        catch (TooManyTagsException ex)
        {
            return Problems.Conflict(ex.Message);
        }
    }

    private static List<string> CheckTags(string field, IReadOnlyList<string?>? tags, Dictionary<string, string[]> errors)
    {
        if (tags is null)
        {
            return [];
        }

        if (tags.Count > ItemStore.MaxTagNamesPerCall)
        {
            errors[field] = [$"'{field}' holds {tags.Count} tags; at most {ItemStore.MaxTagNamesPerCall} per call."];
            return [];
        }

        var problems = tags.Select(ItemStore.ValidateTag).OfType<string>().ToArray();
        if (problems.Length > 0)
        {
            errors[field] = problems;
            return [];
        }

        return [.. tags.Select(t => t!).Distinct(StringComparer.Ordinal)];
    }

    internal static async Task<Results<Ok<Item>, ProblemHttpResult>> GetAsync(
        string projectId, string datasetId, string itemId, [AsParameters] ItemServices services, CancellationToken ct)
    {
        var found = await FindAsync(projectId, datasetId, itemId, services, ct);
        return found is { } f ? TypedResults.Ok(f.Item) : NotFound(datasetId, itemId);
    }

    /// <summary>
    /// Deletes the item (documents, then file), then its annotations. A crash between the two leaves annotations no
    /// route reaches (their item is gone); the dataset or project cascade removes them with the partition.
    /// </summary>
    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        string projectId, string datasetId, string itemId, [AsParameters] ItemServices services, Annotations.AnnotationStore annotations, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(annotations);
        if (!await services.Datasets.ExistsAsync(projectId, datasetId, ct) || !await services.Items.DeleteAsync(datasetId, itemId, ct))
        {
            return NotFound(datasetId, itemId);
        }

        await annotations.DeleteAllOfItemAsync(datasetId, itemId, CancellationToken.None);
        return TypedResults.NoContent();
    }

    /// <summary><c>GET .../items/{itemId}/download-url?minutes=N</c>: a read-only SAS link to the file.</summary>
    internal static async Task<Results<Ok<SignedLink>, ValidationProblem, ProblemHttpResult>> DownloadUrlAsync(
        string projectId, string datasetId, string itemId, int? minutes, [AsParameters] ItemServices services, CancellationToken ct)
    {
        var max = services.Options.Value.MaxLinkMinutes;
        var validFor = minutes ?? Math.Min(DefaultLinkMinutes, max);
        if (validFor < 1 || validFor > max)
        {
            return Problems.Validation("minutes", $"'minutes' must be between 1 and {max}; it is {validFor}.");
        }

        var found = await FindAsync(projectId, datasetId, itemId, services, ct);
        if (found is not { } f)
        {
            return NotFound(datasetId, itemId);
        }

        return TypedResults.Ok(await services.Items.CreateDownloadLinkAsync(f, TimeSpan.FromMinutes(validFor), ct));
    }

    /// <summary>
    /// <c>GET .../items/{itemId}/content</c>: the file's bytes streamed through the API, as an attachment
    /// with <c>X-Content-Type-Options: nosniff</c> (headers a signed blob link cannot fully carry).
    /// </summary>
    internal static async Task<Results<FileStreamHttpResult, ProblemHttpResult>> ContentAsync(
        string projectId, string datasetId, string itemId, HttpResponse response, [AsParameters] ItemServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(response);
        var found = await FindAsync(projectId, datasetId, itemId, services, ct);
        if (found is not { } f)
        {
            return NotFound(datasetId, itemId);
        }

        Stream content;
        try
        {
            content = await services.Items.OpenContentAsync(f, ct);
        }
        catch (BlobNotFoundException)
        {
            return NotFound(datasetId, itemId);
        }

        response.Headers.XContentTypeOptions = "nosniff";
        return TypedResults.Stream(content, ItemStore.MimeType(f.Item), f.Item.Name);
    }

    private static async Task<StoredItem?> FindAsync(string projectId, string datasetId, string itemId, ItemServices services, CancellationToken ct) =>
        await services.Datasets.ExistsAsync(projectId, datasetId, ct) ? await services.Items.GetStoredAsync(datasetId, itemId, ct) : null;

    private static async Task<byte[]> ReadCappedAsync(Stream body, int cap, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await body.ReadAsync(chunk, ct)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length >= cap)
            {
                break; // the compiler refuses it as too large, naming the limit
            }
        }

        return buffer.ToArray();
    }

    private static ProblemHttpResult NotFound(string datasetId, string itemId) =>
        Problems.NotFound($"Dataset '{datasetId}' has no item '{itemId}'.");

    private static ProblemHttpResult TooLarge(long limit) =>
        TypedResults.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "Payload too large",
            detail: $"The upload is larger than the limit of {limit} bytes (setting {ItemsOptions.Section}:MaxUploadBytes).");
}

/// <summary>Registers the items feature.</summary>
public static class ItemsRegistration
{
    public static IHostApplicationBuilder AddItems(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<ItemsOptions>().BindConfiguration(ItemsOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ItemsOptions>>(new ItemsOptionsValidator());
        builder.Services.AddSingleton<PathClaims>();
        builder.Services.AddSingleton<ItemStore>();
        builder.Services.AddSingleton<IBlobCreatedHandler, ItemIngestionHandler>();
        return builder;
    }

    private sealed class ItemsOptionsValidator : IValidateOptions<ItemsOptions>
    {
        public ValidateOptionsResult Validate(string? name, ItemsOptions options)
        {
            var errors = options.Validate();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
