using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Serverless.Functions.Http;

namespace Serverless.Functions.Identity;

/// <summary>Registers identity: stores, the API key scheme, deny-by-default authorization, bootstrap.</summary>
public static class IdentityRegistration
{
    public static IHostApplicationBuilder AddIdentity(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddDocumentContainers([.. IdentityContainers.All, .. GroupContainers.All]);
        builder.Services.AddOptions<BootstrapOptions>().BindConfiguration(BootstrapOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<BootstrapOptions>>(new BootstrapValidator());
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<IdentityStore>();
        builder.Services.AddSingleton<GroupStore>();
        builder.Services.AddSingleton<ApiKeyAuthenticator>();
        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);

        // Every endpoint needs an API key unless it opts out explicitly (AllowAnonymousByDesign): the
        // AccessMiddleware challenges per endpoint. Not a fallback policy, which would also answer 401
        // instead of 404 for paths that match no endpoint.
        builder.Services.AddAuthorization();

        // After the containers exist (DocumentContainersStartup is registered first, above).
        builder.Services.AddHostedService<IdentityBootstrap>();
        return builder;
    }

    /// <summary>Authentication, then each endpoint's declared permission (which demands an authenticated caller).</summary>
    public static IApplicationBuilder UseIdentityAccess(this IApplicationBuilder app)
    {
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseMiddleware<AccessMiddleware>();
        return app;
    }

    private sealed class BootstrapValidator : IValidateOptions<BootstrapOptions>
    {
        public ValidateOptionsResult Validate(string? name, BootstrapOptions options)
        {
            var errors = options.Validate();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
