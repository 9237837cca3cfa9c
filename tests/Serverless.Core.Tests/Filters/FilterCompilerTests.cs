using System.Text.Json;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;

namespace Serverless.Core.Tests.Filters;

public sealed class FilterCompilerTests
{
    private static string CompileToText(string filterJson) =>
        FilterText.Render(FilterCompiler.CompileFilter(filterJson, FieldCatalogs.Items));

    private static FilterException CompileError(string requestJson) =>
        Assert.Throws<FilterException>(() => FilterCompiler.Compile(requestJson, FieldCatalogs.Items));

    public static TheoryData<string, string> Golden => new()
    {
        // Each operator on a string field.
        { """{"name": "a.png"}""", """eq(name,"a.png")""" },
        { """{"name": {"$eq": "a.png"}}""", """eq(name,"a.png")""" },
        { """{"name": {"$ne": "a.png"}}""", """ne(name,"a.png")""" },
        { """{"name": {"$gt": "m"}}""", """gt(name,"m")""" },
        { """{"name": {"$gte": "m"}}""", """gte(name,"m")""" },
        { """{"name": {"$lt": "m"}}""", """lt(name,"m")""" },
        { """{"name": {"$lte": "m"}}""", """lte(name,"m")""" },
        { """{"name": {"$in": ["a", "b"]}}""", """in(name,["a","b"])""" },
        { """{"name": {"$nin": ["a"]}}""", """nin(name,["a"])""" },
        { """{"name": {"$exists": true}}""", "exists(name)" },
        { """{"name": {"$exists": false}}""", "missing(name)" },
        { """{"name": {"$glob": "*.png"}}""", """endsWith(name,".png")""" },
        { """{"name": {"$glob": "cat*"}}""", """startsWith(name,"cat")""" },
        { """{"name": {"$glob": "*cat*"}}""", """contains(name,"cat")""" },
        { """{"name": {"$glob": "cat.png"}}""", """eq(name,"cat.png")""" },
        { """{"name": {"$glob": "*"}}""", """startsWith(name,"")""" },
        { """{"id": "item1"}""", """eq(id,"item1")""" },
        { """{"dir": {"$glob": "/cats/*"}}""", """startsWith(dir,"/cats/")""" },
        // Keyword.
        { """{"type": "image"}""", """eq(type,"image")""" },
        { """{"type": {"$in": ["video", "text"]}}""", """in(type,["video","text"])""" },
        { """{"type": {"$ne": "other"}}""", """ne(type,"other")""" },
        // Numbers: whole numbers stay integers, others doubles.
        { """{"size": 10}""", "eq(size,10)" },
        { """{"size": {"$gt": 1.5}}""", "gt(size,1.5)" },
        { """{"size": {"$gte": -3, "$lt": 1e3}}""", "and(gte(size,-3), lt(size,1000))" },
        { """{"size": {"$nin": [1, 2]}}""", "nin(size,[1,2])" },
        // Booleans.
        { """{"annotated": true}""", "eq(annotated,true)" },
        { """{"annotated": {"$ne": false}}""", "ne(annotated,false)" },
        // Timestamps compile to the stored UTC form.
        { """{"createdAt": {"$gte": "2024-05-01"}}""", """gte(createdAt,"2024-05-01T00:00:00.0000000Z")""" },
        { """{"updatedAt": {"$lt": "2024-05-01T14:30:00+02:00"}}""", """lt(updatedAt,"2024-05-01T12:30:00.0000000Z")""" },
        { """{"createdAt": {"$in": ["2024-01-01T00:00:00.5Z"]}}""", """in(createdAt,["2024-01-01T00:00:00.5000000Z"])""" },
        // Tags: element tests.
        { """{"tags": "cat"}""", """hasElement(tags,"cat")""" },
        { """{"tags": {"$in": ["cat", "dog"]}}""", """or(hasElement(tags,"cat"), hasElement(tags,"dog"))""" },
        { """{"tags": {"$in": ["cat"]}}""", """hasElement(tags,"cat")""" },
        { """{"tags": {"$exists": false}}""", "missing(tags)" },
        // Metadata: any scalar, null for equality.
        { """{"metadata.system.mimetype": {"$in": ["image/png"]}}""", """in(metadata.system.mimetype,["image/png"])""" },
        { """{"metadata.user.score": {"$gt": 0.5}}""", "gt(metadata.user.score,0.5)" },
        { """{"metadata.user.reviewed": true}""", "eq(metadata.user.reviewed,true)" },
        { """{"metadata.user.camera": null}""", "eq(metadata.user.camera,null)" },
        { """{"metadata.user.camera": {"$nin": [null, "x"]}}""", """nin(metadata.user.camera,[null,"x"])""" },
        { """{"metadata.user.camera": {"$glob": "Canon*"}}""", """startsWith(metadata.user.camera,"Canon")""" },
        // Item status in a task.
        { """{"status.t1": "COMPLETED"}""", """eq(status.t1,"COMPLETED")""" },
        { """{"status.t1": {"$exists": false}}""", "missing(status.t1)" },
        // Logic: implicit and, nesting, merging of same-kind groups.
        { """{"dir": "/cats", "type": "image"}""", """and(eq(dir,"/cats"), eq(type,"image"))""" },
        { """{"$and": [{"dir": "/cats"}, {"metadata.system.mimetype": {"$in": ["image/png"]}}, {"name": {"$glob": "*.png"}}]}""",
          """and(eq(dir,"/cats"), in(metadata.system.mimetype,["image/png"]), endsWith(name,".png"))""" },
        { """{"$or": [{"type": "image"}, {"type": "video", "size": {"$lt": 100}}]}""",
          """or(eq(type,"image"), and(eq(type,"video"), lt(size,100)))""" },
        { """{"$and": [{"$and": [{"size": 1}, {"size": 2}]}, {"size": 3}]}""", "and(eq(size,1), eq(size,2), eq(size,3))" },
        { """{"$or": [{"$or": [{"size": 1}]}, {"size": 2}]}""", "or(eq(size,1), eq(size,2))" },
        { """{"$and": [{"size": 1}]}""", "eq(size,1)" },
        { """{"size": {"$gt": 1}, "$or": [{"name": "a"}, {"name": "b"}]}""", """and(gt(size,1), or(eq(name,"a"), eq(name,"b")))""" },
        { """{"$and": [{"size": {"$gt": 1, "$lt": 9}}, {"tags": "x"}]}""", """and(gt(size,1), lt(size,9), hasElement(tags,"x"))""" },
        // Empty and null filters match everything.
        { "{}", "all" },
        { "null", "all" },
    };

    [Theory]
    [MemberData(nameof(Golden))]
    public void CompileFilter_ValidFilter_ProducesExpectedQueryModel(string filterJson, string expected)
    {
        // Act
        var text = CompileToText(filterJson);

        // Assert
        Assert.Equal(expected, text);
    }

    [Theory]
    [MemberData(nameof(Golden))]
    public void CompileFilter_ValidFilter_PassesTheStoreQueryRules(string filterJson, string expected)
    {
        // Act
        var filter = FilterCompiler.CompileFilter(filterJson, FieldCatalogs.Items);

        // Assert: the store accepts every compiled filter (null = everything).
        Assert.NotNull(expected);
        QueryRules.Validate(new DocumentQuery(Where: filter));
        Assert.Equal(filter is null, expected == "all");
    }

    public static TheoryData<string, string, string> Errors => new()
    {
        // Unknown field / operator.
        { """{"filter": {"nmae": "a"}}""", "/filter/nmae", "Unknown field 'nmae'" },
        { """{"filter": {"$and": [{"dir": "/a"}, {"name": {"$regex": "a"}}]}}""", "/filter/$and/1/name/$regex", "Unknown operator '$regex'" },
        { """{"filter": {"name": {"$match": "a.*"}}}""", "/filter/name/$match", "'$match' (regular expressions) is not supported" },
        { """{"filter": {"$not": [{"name": "a"}]}}""", "/filter/$not", "'$not' is not allowed here" },
        { """{"filter": {"name": {"eq": "a"}}}""", "/filter/name/eq", "Expected an operator" },
        { """{"filter": {"metadata.user": {"camera": "x"}}}""", "/filter/metadata.user/camera", "dotted path" },
        { """{"filter": {"name": {}}}""", "/filter/name", "has no operator" },
        // Operator not applicable to the field type.
        { """{"filter": {"annotated": {"$gt": false}}}""", "/filter/annotated/$gt", "does not apply to boolean field 'annotated'" },
        { """{"filter": {"type": {"$glob": "im*"}}}""", "/filter/type/$glob", "does not apply to keyword field 'type'" },
        { """{"filter": {"size": {"$glob": "1*"}}}""", "/filter/size/$glob", "does not apply to number field 'size'" },
        { """{"filter": {"createdAt": {"$glob": "2024*"}}}""", "/filter/createdAt/$glob", "does not apply to timestamp field" },
        { """{"filter": {"tags": {"$ne": "x"}}}""", "/filter/tags/$ne", "does not apply to string-list field 'tags'" },
        { """{"filter": {"tags": {"$nin": ["x"]}}}""", "/filter/tags/$nin", "does not apply to string-list field" },
        // Wrong value types.
        { """{"filter": {"name": 5}}""", "/filter/name", "holds string values; got the number 5" },
        { """{"filter": {"size": "10"}}""", "/filter/size", "holds number values; got a string" },
        { """{"filter": {"size": {"$in": [1, "2"]}}}""", "/filter/size/$in/1", "holds number values" },
        { """{"filter": {"annotated": "yes"}}""", "/filter/annotated", "holds boolean values" },
        { """{"filter": {"type": "picture"}}""", "/filter/type", "'picture' is not a valid type: use image, video, text, other" },
        { """{"filter": {"type": {"$in": ["image", "pic"]}}}""", "/filter/type/$in/1", "not a valid type" },
        { """{"filter": {"createdAt": {"$gt": "yesterday"}}}""", "/filter/createdAt/$gt", "not an ISO-8601 timestamp" },
        { """{"filter": {"createdAt": {"$gt": "2024-05-01T12:00:00"}}}""", "/filter/createdAt/$gt", "not an ISO-8601 timestamp" },
        { """{"filter": {"createdAt": {"$gt": 1714561200000}}}""", "/filter/createdAt/$gt", "holds timestamp values" },
        { """{"filter": {"name": null}}""", "/filter/name", "null is not one" },
        { """{"filter": {"metadata.user.n": {"$gt": null}}}""", "/filter/metadata.user.n/$gt", "null has no order" },
        { """{"filter": {"metadata.user.n": [1, 2]}}""", "/filter/metadata.user.n", "got an array" },
        { """{"filter": {"metadata.user.n": {"$in": [{"a": 1}]}}}""", "/filter/metadata.user.n/$in/0", "got an object" },
        { """{"filter": {"name": {"$exists": 1}}}""", "/filter/name/$exists", "takes true or false" },
        { """{"filter": {"name": {"$glob": 1}}}""", "/filter/name/$glob", "takes a string pattern" },
        { """{"filter": {"name": {"$in": "a"}}}""", "/filter/name/$in", "takes an array" },
        { """{"filter": {"name": {"$in": []}}}""", "/filter/name/$in", "must list 1 to 256 values" },
        { """{"filter": {"size": 1e400}}""", "/filter/size", "out of range" },
        // Globs.
        { """{"filter": {"name": {"$glob": "a*b"}}}""", "/filter/name/$glob", "Unsupported glob 'a*b'" },
        { """{"filter": {"name": {"$glob": "a?.png"}}}""", "/filter/name/$glob", "'*text*' (contains)" },
        { """{"filter": {"name": {"$glob": "[ab].png"}}}""", "/filter/name/$glob", "Unsupported glob" },
        // Prefix fields.
        { """{"filter": {"metadata": "x"}}""", "/filter/metadata", "needs a path below it" },
        { """{"filter": {"metadata.user.my-field": "x"}}""", "/filter/metadata.user.my-field", "each segment after 'metadata.'" },
        { """{"filter": {"metadata.": "x"}}""", "/filter/metadata.", "each segment" },
        { """{"filter": {"status.t1.x": "DONE"}}""", "/filter/status.t1.x", "at most 1 are allowed" },
        { """{"filter": {"a/b~c": 1}}""", "/filter/a~1b~0c", "Unknown field 'a/b~c'" },
        // Groups.
        { """{"filter": {"$and": []}}""", "/filter/$and", "non-empty array" },
        { """{"filter": {"$or": {"name": "a"}}}""", "/filter/$or", "non-empty array" },
        { """{"filter": {"$or": [{"name": "a"}, "b"]}}""", "/filter/$or/1", "A filter must be an object" },
        { """{"filter": {"$or": [{}]}}""", "/filter/$or/0", "An empty object is not a condition" },
        { """{"filter": [1]}""", "/filter", "A filter must be an object" },
        { """{"filter": {"name": "a", "name": "b"}}""", "/filter/name", "appears twice" },
        // Request level.
        { """{"filter": {}, "page": 2}""", "/page", "Unknown key 'page'" },
        { "[]", "", "must be a JSON object" },
        { "{\"filter\": ", "", "not valid JSON" },
        { """{"pageSize": 0}""", "/pageSize", "from 1 to 1000" },
        { """{"pageSize": 1001}""", "/pageSize", "from 1 to 1000" },
        { """{"pageSize": 10.5}""", "/pageSize", "whole number" },
        { """{"pageSize": "10"}""", "/pageSize", "got a string" },
        { """{"continuation": 5}""", "/continuation", "must be the string" },
        { """{"continuation": ""}""", "/continuation", "1 to 8192 characters" },
        { """{"sort": {"field": "name"}}""", "/sort", "must be an array" },
        { """{"sort": [{"field": "nmae"}]}""", "/sort/0/field", "Unknown sort field 'nmae'" },
        { """{"sort": [{"field": "tags"}]}""", "/sort/0/field", "cannot be sorted on" },
        { """{"sort": [{"field": "name", "order": "up"}]}""", "/sort/0/order", "\"asc\" or \"desc\"" },
        { """{"sort": [{"order": "asc"}]}""", "/sort/0", "needs a 'field'" },
        { """{"sort": [{"field": "name", "dir": "asc"}]}""", "/sort/0/dir", "Unknown key 'dir'" },
        { """{"sort": [{"field": "name"}, {"field": "name"}]}""", "/sort/1/field", "appears twice" },
        { """{"sort": [{"field": "name"}, {"field": "size"}, {"field": "dir"}, {"field": "type"}]}""", "/sort", "at most 3" },
        { """{"sort": ["name"]}""", "/sort/0", "must be an object" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Compile_BadRequest_ThrowsWithPathAndMessage(string requestJson, string expectedPath, string expectedMessagePart)
    {
        // Act
        var error = CompileError(requestJson);

        // Assert
        Assert.Equal(expectedPath, error.Path);
        Assert.Contains(expectedMessagePart, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compile_FullRequest_MapsSortPageSizeAndContinuation()
    {
        // Arrange
        const string json = """
            {"filter": {"dir": "/cats"}, "sort": [{"field": "createdAt", "order": "desc"}, {"field": "metadata.user.rank"}],
             "pageSize": 250, "continuation": "abc"}
            """;

        // Act
        var query = FilterCompiler.Compile(json, FieldCatalogs.Items);

        // Assert: createdAt is in every item, so its sort adds a condition every item meets; metadata is not.
        Assert.Equal("""and(eq(dir,"/cats"), gte(createdAt,""))""", FilterText.Render(query.Where));
        Assert.Equal([new SortField("createdAt", true), new SortField("metadata.user.rank", false)], query.OrderBy);
        Assert.Equal(250, query.PageSize);
        Assert.Equal("abc", query.ContinuationToken);
    }

    [Theory]
    [InlineData("""{"sort": [{"field": "name"}]}""", """gte(name,"")""")]
    [InlineData("""{"filter": {"dir": "/a"}, "sort": [{"field": "name", "order": "desc"}]}""", """and(eq(dir,"/a"), gte(name,""))""")]
    [InlineData("""{"filter": {"$and": [{"dir": "/a"}, {"type": "image"}]}, "sort": [{"field": "size"}, {"field": "dir"}]}""", """and(eq(dir,"/a"), eq(type,"image"), gte(size,-1.7976931348623157E+308))""")]
    [InlineData("""{"filter": {"$or": [{"dir": "/a"}, {"size": 1}]}, "sort": [{"field": "type"}]}""", """and(or(eq(dir,"/a"), eq(size,1)), gte(type,""))""")]
    [InlineData("""{"filter": {"name": {"$gte": "m"}}, "sort": [{"field": "name"}]}""", """gte(name,"m")""")]
    [InlineData("""{"filter": {"$or": [{"name": "a"}, {"dir": "/b"}]}, "sort": [{"field": "name"}]}""", """or(eq(name,"a"), eq(dir,"/b"))""")]
    [InlineData("""{"filter": {"annotated": true}, "sort": [{"field": "annotated"}, {"field": "metadata.user.n"}]}""", "eq(annotated,true)")]
    [InlineData("""{"filter": {"dir": "/a"}}""", """eq(dir,"/a")""")]
    public void Compile_SortOnFieldInEveryItem_AddsAConditionEveryItemMeets(string json, string expected)
    {
        // Act
        var query = FilterCompiler.Compile(json, FieldCatalogs.Items);

        // Assert: pinned only for fields every item holds that the filter does not name already.
        Assert.Equal(expected, FilterText.Render(query.Where));
    }

    [Fact]
    public void Compile_SortOnFieldInEveryItem_FilterAsDeepAsAllowed_KeptWithoutTheCondition()
    {
        // Arrange: an $or at the top, nested to the limit: one more level around it would be too deep.
        var filter = """{"size": 1}""";
        for (var depth = 1; depth < FilterLimits.MaxDepth; depth++)
        {
            filter = depth % 2 == 1
                ? $$"""{"$or": [{{filter}}, {"type": "video"}]}"""
                : $$"""{"$and": [{{filter}}, {"dir": "/x"}]}""";
        }

        var unsorted = FilterCompiler.Compile($$"""{"filter": {{filter}}}""", FieldCatalogs.Items);

        // Act
        var sorted = FilterCompiler.Compile($$"""{"filter": {{filter}}, "sort": [{"field": "name"}]}""", FieldCatalogs.Items);

        // Assert
        Assert.Equal(FilterText.Render(unsorted.Where), FilterText.Render(sorted.Where));
    }

    [Fact]
    public void Compile_EmptyRequest_UsesDefaults()
    {
        // Act
        var query = FilterCompiler.Compile("{}", FieldCatalogs.Items);

        // Assert
        Assert.Null(query.Where);
        Assert.Empty(query.OrderBy);
        Assert.Equal(FilterLimits.DefaultPageSize, query.PageSize);
        Assert.Null(query.ContinuationToken);
    }

    [Fact]
    public void Compile_Utf8Bytes_MatchesStringOverload()
    {
        // Arrange
        var bytes = """{"filter": {"name": {"$glob": "*.jpg"}}, "pageSize": 5}"""u8;

        // Act
        var query = FilterCompiler.Compile(bytes, FieldCatalogs.Items);

        // Assert
        Assert.Equal("""endsWith(name,".jpg")""", FilterText.Render(query.Where));
        Assert.Equal(5, query.PageSize);
    }

    [Fact]
    public void Compile_RequestOverSizeLimit_Throws()
    {
        // Arrange
        var json = "{\"filter\": {\"name\": \"" + new string('a', FilterLimits.MaxRequestBytes) + "\"}}";

        // Act
        var error = CompileError(json);

        // Assert
        Assert.Equal(string.Empty, error.Path);
        Assert.Contains("larger than", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compile_StringValueOverLimit_Throws()
    {
        // Arrange
        var json = "{\"filter\": {\"name\": \"" + new string('a', FilterLimits.MaxStringLength + 1) + "\"}}";

        // Act
        var error = CompileError(json);

        // Assert
        Assert.Equal("/filter/name", error.Path);
        Assert.Contains("the limit is 1024", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compile_TooManyConditions_ThrowsAtTheFirstConditionOverTheLimit()
    {
        // Arrange
        var members = string.Join(",", Enumerable.Range(0, FilterLimits.MaxConditions + 1).Select(i => $"{{\"size\": {i}}}"));
        var json = $"{{\"filter\": {{\"$or\": [{members}]}}}}";

        // Act
        var error = CompileError(json);

        // Assert
        Assert.Equal($"/filter/$or/{FilterLimits.MaxConditions}/size", error.Path);
        Assert.Contains("more than 100 conditions", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Alternating $and/$or so that no group merges into its parent: each adds a level.</summary>
    private static string Nested(int groups, string leaf)
    {
        var json = leaf;
        for (var i = 0; i < groups; i++)
        {
            json = $"{{\"{(i % 2 == 0 ? "$or" : "$and")}\": [{json}, {{\"size\": {i}}}]}}";
        }

        return json;
    }

    [Fact]
    public void CompileFilter_DepthAtLimit_Compiles()
    {
        // Arrange: 7 groups around a leaf = 8 levels.
        var json = Nested(FilterLimits.MaxDepth - 1, """{"name": "a"}""");

        // Act
        var filter = FilterCompiler.CompileFilter(json, FieldCatalogs.Items);

        // Assert
        QueryRules.ValidateFilter(filter!);
        Assert.StartsWith("or(and(or(", FilterText.Render(filter), StringComparison.Ordinal);
    }

    [Fact]
    public void CompileFilter_DepthOverLimit_ThrowsAtTheDeepestCondition()
    {
        // Arrange: 8 groups around a leaf = 9 levels.
        var json = Nested(FilterLimits.MaxDepth, """{"name": "a"}""");

        // Act
        var error = Assert.Throws<FilterException>(() => FilterCompiler.CompileFilter(json, FieldCatalogs.Items));

        // Assert: the outermost group is an $and (8th), then alternating down to the leaf at index 0.
        Assert.Equal("/$and/0/$or/0/$and/0/$or/0/$and/0/$or/0/$and/0/$or/0/name", error.Path);
        Assert.Contains("deeper than 8 levels", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CompileFilter_SeveralOperatorsOnTheDeepestField_CountAsALevel()
    {
        // Arrange: 7 groups around a field with two operators: the implicit and is the 9th level.
        var json = Nested(FilterLimits.MaxDepth - 1, """{"size": {"$gt": 1, "$lt": 5}}""");

        // Act
        var error = Assert.Throws<FilterException>(() => FilterCompiler.CompileFilter(json, FieldCatalogs.Items));

        // Assert
        Assert.EndsWith("/0/size/$gt", error.Path, StringComparison.Ordinal);
    }

    [Fact]
    public void CompileFilter_SameKindGroupsNestedDeeply_MergeAndCompile()
    {
        // Arrange: 20 nested $and groups merge into one.
        var json = """{"name": "a"}""";
        for (var i = 0; i < 20; i++)
        {
            json = $"{{\"$and\": [{json}, {{\"size\": {i}}}]}}";
        }

        // Act
        var filter = FilterCompiler.CompileFilter(json, FieldCatalogs.Items);

        // Assert
        var all = Assert.IsType<AllOf>(filter);
        Assert.Equal(21, all.Filters.Count);
        Assert.All(all.Filters, f => Assert.IsType<Comparison>(f));
    }

    [Fact]
    public void ToDocumentQuery_WithScope_AndsScopeIntoTopLevelGroup()
    {
        // Arrange
        var query = FilterCompiler.Compile("""{"filter": {"dir": "/a", "size": 1}, "pageSize": 7}""", FieldCatalogs.Items);

        // Act
        var documentQuery = query.ToDocumentQuery("dataset:1", Filter.Eq("datasetId", "d1"));

        // Assert
        Assert.Equal("dataset:1", documentQuery.PartitionKey);
        Assert.Equal("""and(eq(datasetId,"d1"), eq(dir,"/a"), eq(size,1))""", FilterText.Render(documentQuery.Where));
        Assert.Equal(7, documentQuery.PageSize);
    }

    [Fact]
    public void ToDocumentQuery_WithoutFilterOrScope_QueriesEverything()
    {
        // Arrange
        var query = FilterCompiler.Compile("{}", FieldCatalogs.Items);

        // Act
        var documentQuery = query.ToDocumentQuery(null);

        // Assert
        Assert.Null(documentQuery.Where);
        Assert.Null(documentQuery.PartitionKey);
        Assert.Equal(100, documentQuery.PageSize);
    }

    [Fact]
    public void ToDocumentQuery_ScopeAroundFullDepthOr_ThrowsFilterException()
    {
        // Arrange: an $or-rooted filter at full depth has no room for the scope's extra level.
        var query = FilterCompiler.Compile($"{{\"filter\": {Nested(FilterLimits.MaxDepth - 1, """{"name": "a"}""")}}}", FieldCatalogs.Items);

        // Act
        var error = Assert.Throws<FilterException>(() => query.ToDocumentQuery("p", Filter.Eq("datasetId", "d1")));

        // Assert
        Assert.IsType<AnyOf>(query.Where);
        Assert.Equal("/filter", error.Path);
    }

    [Fact]
    public void CompileFilter_JsonElement_UsesGivenLocationForErrors()
    {
        // Arrange
        using var document = JsonDocument.Parse("""{"bulk": {"filter": {"size": "x"}}}""");
        var element = document.RootElement.GetProperty("bulk").GetProperty("filter");

        // Act
        var error = Assert.Throws<FilterException>(() => FilterCompiler.CompileFilter(element, FieldCatalogs.Items, "/bulk/filter"));

        // Assert
        Assert.Equal("/bulk/filter/size", error.Path);
    }
}
