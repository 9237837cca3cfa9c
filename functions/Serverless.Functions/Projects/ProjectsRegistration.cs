using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Projects;

/// <summary>Registers the projects feature.</summary>
public static class ProjectsRegistration
{
    public static IHostApplicationBuilder AddProjects(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddDocumentContainers([.. ProjectContainers.All]);
        builder.Services.AddSingleton<ProjectStore>();
        builder.Services.AddSingleton<IProjectMembership>(sp => sp.GetRequiredService<ProjectStore>());
        builder.Services.AddSingleton<GroupMembershipService>();
        builder.Services.AddSingleton<ProjectCopyService>();
        return builder;
    }
}
