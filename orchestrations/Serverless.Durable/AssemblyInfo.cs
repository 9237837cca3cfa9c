namespace Serverless.Durable;
