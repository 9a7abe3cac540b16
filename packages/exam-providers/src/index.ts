// exam-providers: the ExamProvider contract and the built-in providers (for now: the offline sandbox).
export { type Arrangement, type ExamProvider, type ExamRequest, ProviderError } from './contract.js';
export { createSandboxProvider, type SandboxOptions } from './sandbox.js';
