import { graphql } from './gql';

// Every operation the app sends. Codegen types them and files each in the persisted-documents
// manifest; the server's TRUSTED_DOCUMENTS runs these and, in production, nothing else.

export const ViewerQuery = graphql(`
  query Viewer {
    viewer { userId email roles }
  }
`);

export const JobsQuery = graphql(`
  query Jobs($first: Int, $after: String, $status: JobStatus) {
    jobs(first: $first, after: $after, status: $status) {
      edges { cursor node { id ownerId title status createdAt updatedAt } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const JobQuery = graphql(`
  query Job($id: ID!) {
    job(id: $id) {
      id ownerId title status ursDocument createdAt updatedAt error
      result { requirementCount testCases { id requirementId requirement title steps expectedResult } }
      auditTrail { id action occurredAt actorId actorEmail reason }
    }
  }
`);

export const JobUpdatedSubscription = graphql(`
  subscription JobUpdated($id: ID!) {
    jobUpdated(id: $id) {
      id status updatedAt error
      result { requirementCount testCases { id requirementId requirement title steps expectedResult } }
    }
  }
`);

export const CreateJobMutation = graphql(`
  mutation CreateJob($input: CreateJobInput!) {
    createJob(input: $input) { id title status createdAt updatedAt ownerId }
  }
`);

export const CancelJobMutation = graphql(`
  mutation CancelJob($id: ID!, $reason: String!) {
    cancelJob(id: $id, reason: $reason) { id status updatedAt }
  }
`);

export const AuditEventsQuery = graphql(`
  query AuditEvents($first: Int, $after: String, $jobId: ID, $actorId: ID, $action: String, $from: DateTime, $to: DateTime) {
    auditEvents(first: $first, after: $after, jobId: $jobId, actorId: $actorId, action: $action, from: $from, to: $to) {
      edges {
        cursor
        node { id action occurredAt actorId actorEmail sessionId tokenIssuedAt impersonatorId jobId reason requestId ip userAgent }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const FINAL_STATUSES = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
