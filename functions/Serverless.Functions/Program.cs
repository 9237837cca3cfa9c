using Serverless.Functions.CustomHandler;
using Serverless.Functions.Durable;
using Serverless.Functions.Health;
using Serverless.Functions.Hosting;

var builder = WebApplication.CreateBuilder(args);

builder.Services.AddProblemDetails();
var mode = builder.AddFunctionsHosting();
builder.AddStorage();
builder.AddDurable(mode);
builder.AddHealth();

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();

app.MapHealthApi();
if (mode.IsCustomHandler)
{
    app.MapCustomHandlerApi();
}

app.Run();

/// <summary>Entry point; public for WebApplicationFactory in functional tests.</summary>
public partial class Program;
