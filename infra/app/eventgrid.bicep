// Event Grid system topic on the storage account. Its BlobCreated subscription delivers events for
// the upload container to the BlobCreated function. Event Grid validates an AzureFunction
// endpoint when the subscription is created, so the function must already be deployed: the
// subscription is created on the provision that azure.yaml's postdeploy hook runs
// (createSubscription = true).
param name string
param location string
param tags object = {}
param storageAccountName string
param uploadContainerName string
param functionAppName string
param createSubscription bool = false

@description('The function (folder name under functions/Serverless.Functions/Functions) that receives BlobCreated events.')
param functionName string = 'BlobCreated'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' = {
  name: name
  location: location
  tags: tags
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource blobCreated 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2024-06-01-preview' = if (createSubscription) {
  parent: systemTopic
  name: 'blob-created-${uploadContainerName}'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionApp.id}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [ 'Microsoft.Storage.BlobCreated' ]
      subjectBeginsWith: '/blobServices/default/containers/${uploadContainerName}/'
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

output systemTopicName string = systemTopic.name
