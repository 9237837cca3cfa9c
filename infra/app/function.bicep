// The function app on a Linux Flex Consumption plan, running the published executable as an
// Azure Functions custom handler (functionAppConfig.runtime 'custom'; host.json names the
// executable). Flex takes the worker runtime from functionAppConfig, not from a
// FUNCTIONS_WORKER_RUNTIME app setting (it rejects that setting).
param name string
param planName string
param location string
param tags object = {}

param identityId string
param identityClientId string
param storageAccountName string
param blobEndpoint string
param queueEndpoint string
param tableEndpoint string
param deploymentContainerName string
param applicationInsightsConnectionString string
param cosmosEndpoint string
param cosmosDatabaseName string
param organizationName string
param adminName string

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@allowed([ 512, 2048, 4096 ])
param instanceMemoryMB int = 2048

// azd deploys the service whose azd-service-name tag matches azure.yaml's service name.
var serviceName = 'functions'

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }

  resource appSettings 'config' = {
    name: 'appsettings'
    properties: {
      // Functions host storage (triggers, leases, keys) through the identity; no connection string.
      AzureWebJobsStorage__accountName: storageAccountName
      AzureWebJobsStorage__blobServiceUri: blobEndpoint
      AzureWebJobsStorage__queueServiceUri: queueEndpoint
      AzureWebJobsStorage__tableServiceUri: tableEndpoint
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId

      // The .NET runtime reads the gen0 budget only from the environment (see RuntimeSettings.props).
      DOTNET_GCgen0size: '0x8000000'

      // Telemetry with Entra ID auth (the component has local auth off).
      APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'

      // The app's own settings (Serverless.Functions options records; README lists each).
      DocumentStore__Provider: 'Cosmos'
      DocumentStore__CosmosEndpoint: cosmosEndpoint
      DocumentStore__CosmosDatabase: cosmosDatabaseName
      DocumentStore__CosmosManagedIdentityClientId: identityClientId
      DocumentStore__CosmosConnectionMode: 'Direct'
      Storage__BlobEndpoint: blobEndpoint
      Storage__QueueEndpoint: queueEndpoint
      Storage__ManagedIdentityClientId: identityClientId
      Health__PingTimeout: '00:00:02'
      Items__MaxUploadBytes: '2147483648'
      Items__BlobContainer: 'items'
      Items__MaxLinkMinutes: '1440'
      Recipes__MaxInstructionsPdfBytes: '52428800'
      Recipes__DownloadLinkLifetime: '00:15:00'
      Recipes__BlobContainer: 'recipe-instructions'
      RawZips__BlobContainer: 'zips'
      RawZips__MaxEntries: '100000'
      RawZips__MaxTotalBytes: '107374182400'
      RawZips__BlockSizeBytes: '8388608'
      RawZips__LinkLifetime: '01:00:00'
      Media__MaxDurationSeconds: '14400'
      Media__MaxWidth: '7680'
      Media__MaxHeight: '4320'
      Media__MaxFileBytes: '21474836480'
      Media__ProbeTimeout: '00:01:00'
      Media__ConversionTimeout: '00:00:00'
      Media__WorkDirectory: ''
      Media__Ffmpeg: 'ffmpeg'
      Media__Ffprobe: 'ffprobe'
      Media__LinkLifetime: '01:00:00'
      Exports__BlobContainer: 'exports'
      Exports__PageSize: '500'
      Exports__DownloadLinkMinutes: '60'
      Exports__ItemLinkHours: '168'
      Analytics__IdleGapSeconds: '120'
      Imports__BlobContainer: 'imports'
      Imports__MaxUploadBytes: '536870912'
      Imports__MaxStoredErrors: '1000'
      Bootstrap__OrganizationName: organizationName
      Bootstrap__AdminName: adminName
    }
  }
}

output id string = functionApp.id
output name string = functionApp.name
output uri string = 'https://${functionApp.properties.defaultHostName}'
