import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  defaultProviderContext,
  defineProvider,
  loadProvidersFileWithPackages,
  type PackageLoader,
  providerFactoryOf,
  sandboxProvider,
} from '../src/index.js';

const ctx = defaultProviderContext({});
const quizly = defineProvider({
  id: 'quizly',
  options: z.object({ baseUrl: z.url() }).strict(),
  create: (options, _ctx, id) => ({
    id,
    createExam: async (r) => ({ examUrl: `${options.baseUrl}/${r.examId}` }),
  }),
});

/** A loader as the gateway's would answer, over a fixed set of "installed" packages. */
const installed =
  (modules: Record<string, unknown>): PackageLoader =>
  async (specifier) =>
    specifier in modules
      ? { ok: true, module: modules[specifier] }
      : {
          ok: false,
          code: 'not_installed',
          message: `is not installed next to providers.yaml nor in the gateway; run npm install ${specifier} next to providers.yaml`,
        };

const file = (entries: string) => `defaultProvider: q\nproviders:\n${entries}`;

describe('provider packages in the providers file', () => {
  it('builds a provider from a package’s default export, or its export named `provider`', async () => {
    for (const module of [{ default: quizly }, { provider: quizly }, { default: { default: quizly } }]) {
      const result = await loadProvidersFileWithPackages(
        file('  - id: q\n    package: "@acme/quizly"\n    options: { baseUrl: "https://q.example" }\n'),
        'providers.yaml',
        { factories: [sandboxProvider], loadPackage: installed({ '@acme/quizly': module }) },
        ctx,
      );
      if (!result.ok) throw new Error(result.errors.join('\n'));
      const arranged = await result.registry.get('q')?.createExam({
        examId: 'e1',
        paperId: 'p',
        candidate: { name: 'n' },
      });
      expect(arranged).toEqual({ examUrl: 'https://q.example/e1' });
    }
  });

  it('a missing package, one without a factory, and bad options: one line each, naming file, line and package', async () => {
    const result = await loadProvidersFileWithPackages(
      [
        'defaultProvider: q',
        'providers:',
        '  - id: q',
        '    package: "@acme/missing"',
        '  - id: r',
        '    package: "@acme/empty"',
        '  - id: s',
        '    package: "@acme/quizly"',
        '    options:',
        '      baseUrl: not a url',
        '',
      ].join('\n'),
      'providers.yaml',
      {
        factories: [sandboxProvider],
        loadPackage: installed({
          '@acme/empty': { default: { hello: 1 } },
          '@acme/quizly': { default: quizly },
        }),
      },
      ctx,
    );
    expect(result.ok ? [] : result.errors).toEqual([
      'providers.yaml:4: provider q: package "@acme/missing" is not installed next to providers.yaml nor in the gateway; run npm install @acme/missing next to providers.yaml',
      'providers.yaml:6: provider r: package "@acme/empty" exports no provider factory: its default export (or an export named `provider`) must be made with defineProvider from @feishu-exam/exam-providers',
      'providers.yaml:10: provider s (package @acme/quizly): options.baseUrl: Invalid URL',
    ]);
  });

  it('a loader that throws, or a factory that throws, is a line too, never an exception', async () => {
    const throwing = {
      id: 'boom',
      options: z.object({}),
      build: () => {
        throw new Error('kaput\nstack');
      },
    };
    const result = await loadProvidersFileWithPackages(
      file('  - id: q\n    package: "./broken"\n  - id: b\n    package: "./boom"\n'),
      'providers.yaml',
      {
        factories: [],
        loadPackage: async (s) => {
          if (s === './boom') return { ok: true, module: { default: throwing } };
          throw new Error('SyntaxError: Unexpected token');
        },
      },
      ctx,
    );
    expect(result.ok ? [] : result.errors).toEqual([
      'providers.yaml:4: provider q: package "./broken" failed to load: SyntaxError: Unexpected token',
      'providers.yaml:5: provider b (package ./boom): options: kaput',
    ]);
  });

  it('an entry names type or package, exactly one', async () => {
    const result = await loadProvidersFileWithPackages(
      file('  - id: q\n    type: sandbox\n    package: x\n  - id: r\n    papers: [p]\n'),
      'providers.yaml',
      { factories: [sandboxProvider], loadPackage: installed({}) },
      ctx,
    );
    const errors = result.ok ? [] : result.errors;
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^providers\.yaml:5: providers\.0\.package: name either type: .* or package:/);
    expect(errors[1]).toMatch(/^providers\.yaml:6: providers\.1: name either type:/);
  });

  it('a type alias reads as its package, reported at the type: line', async () => {
    const result = await loadProvidersFileWithPackages(
      file('  - id: q\n    type: quizly\n'),
      'providers.yaml',
      {
        factories: [sandboxProvider],
        loadPackage: installed({}),
        typeAliases: { quizly: '@acme/quizly' },
      },
      ctx,
    );
    expect(result.ok ? [] : result.errors).toEqual([
      expect.stringMatching(/^providers\.yaml:4: provider q: package "@acme\/quizly" is not installed/),
    ]);
  });

  it('providerFactoryOf refuses what is not a factory', () => {
    expect(providerFactoryOf(undefined)).toBeUndefined();
    expect(providerFactoryOf({ default: () => quizly })).toBeUndefined();
    expect(providerFactoryOf({ default: { id: 'x' } })).toBeUndefined();
    expect(providerFactoryOf({ provider: quizly })).toBe(quizly);
  });
});
