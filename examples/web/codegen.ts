import type { CodegenConfig } from '@graphql-codegen/cli';
import { addTypenameSelectionDocumentTransform } from '@graphql-codegen/client-preset';

// Typed operations from the server's contract, plus the persisted-documents manifest
// (src/gql/persisted-documents.json: hash -> document) that the server's TRUSTED_DOCUMENTS reads.
const config: CodegenConfig = {
  schema: '../../schema/schema.graphql',
  documents: ['src/**/*.{ts,tsx}', '!src/gql/**/*'],
  generates: {
    './src/gql/': {
      preset: 'client',
      presetConfig: { persistedDocuments: true, fragmentMasking: false },
      // Apollo's cache adds __typename to every selection; adding it before hashing keeps the
      // manifest's documents identical to what the cache expects back.
      documentTransforms: [addTypenameSelectionDocumentTransform],
      config: {
        scalars: { DateTime: 'string', JSON: 'unknown' },
        enumsAsTypes: true,
        useTypeImports: true,
      },
    },
  },
};
export default config;
