using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.FileProviders;

namespace Serverless.Functions.Dashboard;

/// <summary>
/// Serves the dashboard page (HTML, ES modules, the chart library) from the <c>dashboard/</c> folder the build
/// copies beside the executable (sources in <c>web/dashboard/</c>). The files are public and hold no data: every
/// figure on the page comes from the API, which checks the API key the page sends like any other client's.
/// </summary>
/// <remarks>
/// Paths under <c>/api</c> never reach the file provider, so a file can never shadow a route. Every page response
/// carries a Content-Security-Policy that allows only this origin's scripts, styles and API calls: no inline
/// script, no eval, no third-party origin, no framing.
/// </remarks>
public static class DashboardPage
{
    /// <summary>The folder, relative to the executable, that holds the page.</summary>
    public const string Folder = "dashboard";

    /// <summary>The policy sent with every file of the page.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    /// <summary>Maps <c>/</c> to the page when its folder exists (a build without it serves only the API).</summary>
    public static IApplicationBuilder UseDashboardPage(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var root = Path.Combine(AppContext.BaseDirectory, Folder);
        if (!Directory.Exists(root))
        {
            return app;
        }

        var files = new PhysicalFileProvider(root);
        app.UseWhen(
            context => !context.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase),
            page =>
            {
                page.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files });
                page.UseStaticFiles(new StaticFileOptions
                {
                    FileProvider = files,
                    ContentTypeProvider = new FileExtensionContentTypeProvider(),
                    OnPrepareResponse = file =>
                    {
                        var headers = file.Context.Response.Headers;
                        headers.ContentSecurityPolicy = ContentSecurityPolicy;
                        headers.XContentTypeOptions = "nosniff";
                        headers["Referrer-Policy"] = "no-referrer";

                        // Revalidate on every load, so a deployment's new page and API meet at once.
                        headers.CacheControl = "no-cache";
                    },
                });
            });
        return app;
    }
}
