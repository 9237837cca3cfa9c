// The annotation platform on Azure: one Linux function app (Flex Consumption) running the
// executable as a custom handler, one storage account (blobs, queues, Functions host state),
// Cosmos DB for NoSQL, an Event Grid system topic for BlobCreated, and monitoring.
// Every data-plane call authenticates with one user-assigned managed identity: the storage
// account has Shared Key off and Cosmos DB has local (key) auth off.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used in resource names and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Primary location for all resources (must offer the Flex Consumption plan).')
param location string

@description('Object id of the user running azd; gets data access too, for debugging against Azure. Empty: none.')
param principalId string = ''

@allowed([ 'User', 'ServicePrincipal' ])
@description('Kind of principalId: User for a person running azd, ServicePrincipal for a CI pipeline.')
param principalType string = 'User'

@allowed([ 'Serverless', 'Provisioned' ])
@description('Cosmos DB capacity: Serverless (pay per request, the default) or Provisioned (shared database throughput).')
param cosmosCapacityMode string = 'Serverless'

@minValue(400)
@description('Database throughput in RU/s when cosmosCapacityMode is Provisioned (ignored for Serverless).')
param cosmosThroughput int = 400

@minValue(1)
@maxValue(1000)
@description('Upper bound on Flex Consumption instances.')
param maximumInstanceCount int = 100

@description('Create the BlobCreated subscription to the BlobCreated function. Needs the function code deployed first: the postdeploy hook sets it and provisions again.')
param createBlobSubscription bool = false

@description('Name of the Cosmos DB database (DocumentStore__CosmosDatabase).')
param cosmosDatabaseName string = 'annotate'

@description('Name of the default organization created on first start (Bootstrap__OrganizationName).')
param organizationName string = 'Default organization'

@description('Name of the platform admin created on first start (Bootstrap__AdminName).')
param adminName string = 'Administrator'

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }

// Blob containers the code uses. `uploads` is LocalHostOptions.DefaultUploadContainer: the
// container whose BlobCreated events reach the BlobCreated function.
var uploadContainerName = 'uploads'
var blobContainerNames = [
  uploadContainerName
  'items'
  'recipe-instructions'
  // Durable payloads over the queue/document limits (StorageBackendOptions.PayloadContainer).
  'durable-payloads'
  'exports'
  'imports'
  'zips'
  'large-payloads'
]

// Queues: one per queue-triggered function (FunctionCatalog) plus the poison queue the host moves
// a message to after host.json's maxDequeueCount attempts.
var queueNames = [
  // Control partitions of the durable runtime (FunctionCatalog.DurableControlPartitions), one function each.
  'durable-control-0'
  'durable-control-0-poison'
  'durable-control-1'
  'durable-control-1-poison'
  'durable-control-2'
  'durable-control-2-poison'
  'durable-control-3'
  'durable-control-3-poison'
  'durable-work'
  'durable-work-poison'
  // The durable runtime's own poison queue (StorageBackendOptions.PoisonQueue, task hub 'durable').
  'durable-poison'
]

// Cosmos DB containers: one per ContainerSpec the code registers, partitioned on the synthetic
// /pk (CosmosDocumentStore). indexedPaths mirror ContainerSpec.IndexedPaths: each gets the two
// composite indexes (path asc/desc, then id asc) that CosmosDocumentStore.IndexingPolicyFor creates.
// The app's identity cannot create containers (data-plane RBAC has no control-plane rights), so a
// container missing here fails the app's start-up.
var cosmosContainers = [
  { name: 'organizations', partitionKeyPath: '/pk', indexedPaths: [ 'type', 'createdAt' ] }
  { name: 'users', partitionKeyPath: '/pk', indexedPaths: [ 'type', 'createdAt' ] }
  { name: 'apikeys', partitionKeyPath: '/pk', indexedPaths: [] }
  { name: 'projects', partitionKeyPath: '/pk', indexedPaths: [ 'type', 'role', 'addedAt' ] }
  { name: 'datasets', partitionKeyPath: '/pk', indexedPaths: [ 'createdAt' ] }
  { name: 'items', partitionKeyPath: '/pk', indexedPaths: [ 'kind', 'dir', 'name', 'type', 'createdAt', 'size', 'itemId' ] }
  { name: 'recipes', partitionKeyPath: '/pk', indexedPaths: [ 'type', 'createdAt' ] }
  { name: 'groups', partitionKeyPath: '/pk', indexedPaths: [ 'type', 'addedAt' ] }
  { name: 'savedfilters', partitionKeyPath: '/pk', indexedPaths: [ 'type', 'createdAt' ] }
  { name: 'tasks', partitionKeyPath: '/pk', indexedPaths: [ 'createdAt', 'assignee', 'status', 'name', 'itemId' ] }
  { name: 'activity', partitionKeyPath: '/pk', indexedPaths: [ 'at', 'kind', 'actor', 'taskId', 'itemId' ] }
  { name: 'exports', partitionKeyPath: '/pk', indexedPaths: [ 'kind', 'createdAt', 'versioned' ] }
  { name: 'analytics', partitionKeyPath: '/pk', indexedPaths: [ 'kind', 'g', 'v' ] }
  { name: 'imports', partitionKeyPath: '/pk', indexedPaths: [ 'createdAt' ] }
  // The durable runtime's instances and history (StorageBackendOptions.InstancesContainer, task hub 'durable').
  { name: 'durable-instances', partitionKeyPath: '/pk', indexedPaths: [ 'docType', 'status', 'name', 'createdAt' ] }
]

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    blobContainerNames: concat(blobContainerNames, [ deploymentContainerName ])
    queueNames: queueNames
  }
}

module cosmos 'app/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: '${abbrs.documentDBDatabaseAccounts}${resourceToken}'
    location: location
    tags: tags
    capacityMode: cosmosCapacityMode
    throughput: cosmosThroughput
    databaseName: cosmosDatabaseName
    containers: cosmosContainers
  }
}

var deploymentContainerName = 'app-package-${take(resourceToken, 7)}'

module functionApp 'app/function.bicep' = {
  name: 'function'
  scope: rg
  params: {
    name: '${abbrs.webSitesFunctions}${resourceToken}'
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmosDatabaseName
    maximumInstanceCount: maximumInstanceCount
    organizationName: organizationName
    adminName: adminName
  }
}

module roles 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    cosmosAccountName: cosmos.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

module eventGrid 'app/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: rg
  params: {
    name: '${abbrs.eventGridDomainsTopics}${resourceToken}'
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    uploadContainerName: uploadContainerName
    functionAppName: functionApp.outputs.name
    createSubscription: createBlobSubscription
  }
}

// Outputs become azd environment values (and the app settings the function app already has).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_FUNCTIONS_URI string = functionApp.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output AZURE_STORAGE_QUEUE_ENDPOINT string = storage.outputs.queueEndpoint
output AZURE_COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output AZURE_COSMOS_DATABASE string = cosmosDatabaseName
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_UPLOAD_CONTAINER string = uploadContainerName
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.applicationInsightsConnectionString
