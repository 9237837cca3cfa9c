using Serverless.Functions.Activity;
using Serverless.Functions.Analytics;
using Serverless.Functions.Annotations;
using Serverless.Functions.CustomHandler;
using Serverless.Functions.Dashboard;
using Serverless.Functions.Datasets;
using Serverless.Functions.Durable;
using Serverless.Functions.Exports;
using Serverless.Functions.Filters;
using Serverless.Functions.Health;
using Serverless.Functions.Hosting;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Imports;
using Serverless.Functions.Items;
using Serverless.Functions.Media;
using Serverless.Functions.Projects;
using Serverless.Functions.RawZips;
using Serverless.Functions.Recipes;
using Serverless.Functions.Tasks;

var builder = WebApplication.CreateBuilder(args);

builder.AddHttpApi();
var mode = builder.AddFunctionsHosting();
builder.AddStorage();
builder.AddDurable(mode);
builder.AddHealth();
builder.AddIdentity();
builder.AddProjects();
builder.AddDatasets();
builder.AddItems();
builder.AddRecipes();
builder.AddSavedFilters();
builder.AddAnnotations();
builder.AddTasks();
builder.AddProjectDeletion();
builder.AddDashboard();
builder.AddRawZips();
builder.AddMedia();
builder.AddExports();
builder.AddAnalytics();
builder.AddImports();

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseDashboardPage();
app.UseIdentityAccess();

app.MapOpenApi().AllowAnonymousByDesign(HttpApiRegistration.OpenApiReason);
app.MapGroup("").AllowAnonymousByDesign("Health is probed by load balancers and the Functions host without credentials; it reveals only up/down.").MapHealthApi();
app.MapIdentityApi();
app.MapProjectsApi();
app.MapDatasetsApi();
app.MapItemsApi();
app.MapRecipesApi();
app.MapGroupsApi();
app.MapProjectOrganizationsApi();
app.MapSavedFiltersApi();
app.MapDatasetRecipeApi();
app.MapAnnotationsApi();
app.MapActivityApi();
app.MapTasksApi();
app.MapTaskBulkApi();
app.MapQaApi();
app.MapOrchestrationsApi();
app.MapDashboardApi();
app.MapRawZipsApi();
app.MapMediaApi();
app.MapExportsApi();
app.MapAnalyticsApi();
app.MapImportsApi();
if (mode.IsCustomHandler)
{
    app.MapGroup("").AllowAnonymousByDesign("Trigger invocations come from the Functions host over loopback, which authenticates its own triggers; API keys do not apply.").MapCustomHandlerApi();
}

app.Run();

/// <summary>Entry point; public for WebApplicationFactory in functional tests.</summary>
public partial class Program;
