using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;

namespace Serverless.Functions.Analytics;

/// <summary>
/// CSV per RFC 4180 (comma, CRLF, fields with comma, quote or line break quoted, quotes doubled), with the
/// columns named as in the JSON answer. Text cells starting with <c>= + - @</c> (or tab / carriage return) get a
/// leading single quote, so a spreadsheet never runs a user-supplied label or tag as a formula.
/// </summary>
public static class Csv
{
    public static string Write<T>(IEnumerable<T> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var properties = typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance);
        var text = new StringBuilder();
        text.AppendJoin(',', properties.Select(p => Field(JsonNamingPolicy.CamelCase.ConvertName(p.Name)))).Append("\r\n");
        foreach (var row in rows)
        {
            text.AppendJoin(',', properties.Select(p => Field(p.GetValue(row)))).Append("\r\n");
        }

        return text.ToString();
    }

    /// <summary>One field: numbers in invariant culture, text guarded against formulas and quoted when needed.</summary>
    public static string Field(object? value)
    {
        switch (value)
        {
            case null:
                return string.Empty;
            case double d:
                return d.ToString("0.####", CultureInfo.InvariantCulture);
            case IFormattable f:
                return f.ToString(null, CultureInfo.InvariantCulture);
        }

        var s = value.ToString() ?? string.Empty;
        if (s.Length > 0 && s[0] is '=' or '+' or '-' or '@' or '\t' or '\r')
        {
            s = "'" + s;
        }

        return s.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;
    }

    public static IResult Result(string csv, string name) =>
        Results.Text(csv, "text/csv; charset=utf-8", Encoding.UTF8, StatusCodes.Status200OK) is var result
            ? new CsvResult(result, name) : result;

    /// <summary>Adds the download file name to a text result.</summary>
    private sealed class CsvResult(IResult inner, string name) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            ArgumentNullException.ThrowIfNull(httpContext);
            httpContext.Response.Headers.ContentDisposition = $"attachment; filename=\"{name}.csv\"";
            return inner.ExecuteAsync(httpContext);
        }
    }
}
