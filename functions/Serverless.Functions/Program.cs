var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();
app.MapGet("/api/health", () => "ok");
app.Run();

/// <summary>Entry point; public for WebApplicationFactory in functional tests.</summary>
public partial class Program;
