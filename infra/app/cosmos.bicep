// Cosmos DB for NoSQL: serverless by default (pay per request, no idle cost), or provisioned with
// shared database throughput. Key auth is off (disableLocalAuth): the app uses its identity with
// the built-in data-contributor role (rbac.bicep). Data-plane RBAC cannot create databases or
// containers, so every container the code uses is declared here.
param name string
param location string
param tags object = {}

@allowed([ 'Serverless', 'Provisioned' ])
param capacityMode string = 'Serverless'

@description('Shared database RU/s when capacityMode is Provisioned.')
param throughput int = 400

param databaseName string

@description('Containers: { name, partitionKeyPath, indexedPaths } as main.bicep lists them.')
param containers array

var isServerless = capacityMode == 'Serverless'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: { defaultConsistencyLevel: 'Session' }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: isServerless ? [ { name: 'EnableServerless' } ] : []
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: { id: databaseName }
    options: isServerless ? {} : { throughput: throughput }
  }
}

// Matches CosmosDocumentStore.IndexingPolicyFor: index everything except _etag, and for each
// indexed path the composite indexes (path asc, id asc) and (path desc, id asc) that sorting with
// the id tie-breaker needs.
resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [for container in containers: {
  parent: database
  name: container.name
  properties: {
    resource: {
      id: container.name
      partitionKey: {
        paths: [ container.partitionKeyPath ]
        kind: 'Hash'
      }
      indexingPolicy: {
        automatic: true
        indexingMode: 'consistent'
        includedPaths: [ { path: '/*' } ]
        excludedPaths: [ { path: '/"_etag"/?' } ]
        compositeIndexes: flatten(map(filter(container.indexedPaths, p => p != 'id'), p => [
          [
            { path: '/${replace(p, '.', '/')}', order: 'ascending' }
            { path: '/id', order: 'ascending' }
          ]
          [
            { path: '/${replace(p, '.', '/')}', order: 'descending' }
            { path: '/id', order: 'ascending' }
          ]
        ]))
      }
    }
  }
}]

output id string = account.id
output name string = account.name
output endpoint string = account.properties.documentEndpoint
