// The real schemas: QEMU 7.2's whole tree and a recent misc.json, read in place from
// ../shared/qapi (test data, never copied into the repository).
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  defaultSchema,
  parseSchemaFile,
  qapiDataDir,
  qapiFromShared,
  QapiError,
  resolveSchema,
  type DefinitionMeta,
  type Model,
  type ObjectType,
  type ParsedSchema,
} from '../src/index.ts';

function countKinds(model: Model): Record<DefinitionMeta, number> {
  const counts: Record<DefinitionMeta, number> = { enum: 0, struct: 0, union: 0, alternate: 0, command: 0, event: 0 };
  for (const d of model.definitions) counts[d.meta]++;
  return counts;
}

describe('QEMU 7.2 schema (qemu-7.2/qapi-schema.json)', () => {
  let parsed: ParsedSchema;
  let model: Model;
  before(() => {
    parsed = parseSchemaFile(defaultSchema);
    model = resolveSchema(parsed);
  });

  it('reads every file of the tree once', () => {
    assert.equal(parsed.files.length, 38);
    assert.equal(new Set(parsed.files).size, 38);
    assert.ok(parsed.includes.some((i) => !i.loaded), 'some sub-schemas are included more than once');
  });

  it('has the expected number of each definition kind', () => {
    assert.deepEqual(countKinds(model), { enum: 155, struct: 418, union: 39, alternate: 6, command: 220, event: 52 });
    assert.equal(model.definitions.length, 890);
  });

  it('documents every definition (doc-required) and keeps the free-form sections', () => {
    assert.equal(parsed.pragma.docRequired, true);
    assert.equal(parsed.docs.length, 929);
    assert.equal(parsed.docs.filter((d) => d.symbol !== undefined).length, 890);
    assert.ok(model.definitions.every((d) => d.doc?.symbol === d.name));
    const headings = parsed.docs.flatMap((d) => (d.heading ? [`${'='.repeat(d.heading.level)} ${d.heading.text}`] : []));
    assert.ok(headings.includes('= Block devices'));
    assert.ok(headings.includes('== Block core (VM unrelated)'));
  });

  it('counts the tagged sections and examples (all in the 7.x Example: form)', () => {
    const tags: Record<string, number> = {};
    for (const d of parsed.docs) for (const s of d.sections) if (s.kind === 'tagged') tags[s.tag] = (tags[s.tag] ?? 0) + 1;
    assert.deepEqual(tags, { Since: 883, Returns: 162, Note: 40, Notes: 27, Example: 208, Examples: 5, TODO: 4 });
    const examples = parsed.docs.flatMap((d) => d.examples);
    assert.equal(examples.length, 213);
    assert.ok(examples.every((e) => e.form === 'section'));
  });

  it('documents getfd: members, Returns, Notes and the literal example', () => {
    const doc = model.commands.get('getfd')!.doc!;
    assert.deepEqual([...doc.members], [['fdname', 'file descriptor name']]);
    assert.equal(doc.returns, 'Nothing on success');
    assert.equal(doc.since, '0.14');
    assert.equal(doc.notes.length, 1);
    assert.match(doc.notes[0]!, /^If @fdname already exists, the file descriptor assigned to\nit will be closed/);
    assert.match(doc.notes[0]!, /\n\nThe 'closefd' command can be used/);
    assert.deepEqual(doc.examples.map((e) => [e.form, e.text]), [
      ['section', '-> { "execute": "getfd", "arguments": { "fdname": "fd1" } }\n<- { "return": {} }'],
    ]);
  });

  it('documents add-fd: Returns as a list, Since, and AddfdInfo members with aligned continuation', () => {
    const doc = model.commands.get('add-fd')!.doc!;
    assert.equal(doc.returns, '- @AddfdInfo on success\n- If file descriptor was not received, FdNotSupplied\n- If @fdset-id is a negative value, InvalidParameterValue');
    assert.equal(doc.since, '1.2');
    assert.deepEqual(doc.notes, ['The list of fd sets is shared by all monitor connections.\n\nIf @fdset-id is not specified, a new fd set will be created.']);
    assert.equal(model.types.get('AddfdInfo')!.doc!.members.get('fd'), 'The file descriptor that was received via SCM rights and\nadded to the fd set.');
  });

  it('reads Features: sections', () => {
    const doc = model.commands.get('human-monitor-command')!.doc!;
    assert.deepEqual([...doc.features.keys()], ['savevm-monitor-nodes']);
    assert.deepEqual(model.commands.get('human-monitor-command')!.features, [{ name: 'savevm-monitor-nodes' }]);
  });

  it('resolves commands: implicit arguments, returns, flags', () => {
    const addFd = model.commands.get('add-fd')!;
    assert.equal(addFd.retType, 'AddfdInfo');
    const args = model.types.get(addFd.argType!) as ObjectType;
    assert.deepEqual(args.members.map((m) => [m.name, m.optional, m.type]), [['fdset-id', true, 'int'], ['opaque', true, 'str']]);
    assert.equal(model.commands.get('query-fdsets')!.retType, 'FdsetInfoList');
    assert.deepEqual(model.types.get('FdsetInfoList'), { kind: 'array', name: 'FdsetInfoList', element: 'FdsetInfo', features: [] });
    assert.equal(model.commands.get('stop')!.argType, undefined);
    assert.equal(model.commands.get('stop')!.retType, undefined);
    assert.equal(model.commands.get('migrate-recover')!.allowOob, true);
    assert.equal(model.commands.get('device_add')!.gen, false);
    assert.equal(model.commands.get('blockdev-add')!.boxed, true);
    assert.equal(model.commands.get('blockdev-add')!.argType, 'BlockdevOptions');
    assert.equal(model.commands.get('block_resize')!.coroutine, true);
    assert.equal(model.commands.get('query-name')!.allowPreconfig, true);
  });

  it('flattens base members first', () => {
    const cow = model.types.get('BlockdevOptionsGenericCOWFormat') as ObjectType;
    assert.equal(cow.base, 'BlockdevOptionsGenericFormat');
    assert.deepEqual(cow.localMembers.map((m) => m.name), ['backing']);
    assert.deepEqual(cow.members.map((m) => [m.name, m.owner]), [['file', 'BlockdevOptionsGenericFormat'], ['backing', 'BlockdevOptionsGenericCOWFormat']]);
  });

  it('resolves unions: inline base, discriminator and one variant per enum value', () => {
    const u = model.types.get('BlockdevOptions') as ObjectType;
    assert.equal(u.meta, 'union');
    assert.equal(u.base, 'q_obj_BlockdevOptions-base');
    assert.equal(u.members[0]!.name, 'driver');
    assert.equal(u.variants!.tag, 'driver');
    assert.equal(u.variants!.tagType, 'BlockdevDriver');
    const driver = model.types.get('BlockdevDriver');
    assert.equal(driver?.kind, 'enum');
    assert.equal(u.variants!.cases.length, driver.kind === 'enum' ? driver.values.length : -1);
    assert.deepEqual(u.variants!.cases.find((c) => c.name === 'file'), { name: 'file', type: 'BlockdevOptionsFile' });
    assert.deepEqual(u.variants!.cases.find((c) => c.name === 'host_device'), { name: 'host_device', type: 'BlockdevOptionsFile', if: 'HAVE_HOST_BLOCK_DEVICE' });
  });

  it('keeps if conditions, compound ones included', () => {
    assert.deepEqual(model.commands.get('query-cpu-model-expansion')!.if, { any: ['TARGET_S390X', 'TARGET_I386', 'TARGET_ARM'] });
    assert.equal(model.commands.get('query-gic-capabilities')!.if, 'TARGET_ARM');
  });

  it('has the builtins', () => {
    for (const name of ['str', 'int', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'size', 'number', 'bool', 'null', 'any']) {
      assert.equal(model.types.get(name)?.kind, 'builtin', name);
    }
    assert.equal(model.types.get('QType')?.kind, 'enum');
  });
});

// ../shared's misc.json is a later QEMU's than 7.2 (other doc texts, the qmp-example form): without
// ../shared there is no such file to read, and these tests say so instead of passing on other data.
const NO_RECENT_MISC = qapiFromShared ? false : "needs ../shared's misc.json (a later QEMU's than Debian's 7.2)";

describe('misc.json (a recent QEMU, qmp-example form, indentation lost)', { skip: NO_RECENT_MISC }, () => {
  const file = resolve(qapiDataDir, 'misc.json');
  let parsed: ParsedSchema;
  let model: Model;
  before(() => {
    parsed = parseSchemaFile(file, { followIncludes: false });
    // pragma.json is not next to it: supply the two exceptions misc.json needs.
    model = resolveSchema(parsed, { extraPragma: { commandNameExceptions: ['add_client'], commandReturnsExceptions: ['human-monitor-command'] } });
  });

  it('cannot follow its include of common.json, which is not in ../shared/qapi', () => {
    assert.throws(() => parseSchemaFile(file), (err: unknown) => {
      assert.ok(err instanceof QapiError);
      assert.match(err.message, /misc\.json:7:14: can't read include file '.*common\.json'/);
      return true;
    });
    assert.deepEqual(parsed.includes.map((i) => [i.include, i.loaded, i.info.line]), [['common.json', false, 7]]);
  });

  it('has the expected definitions', () => {
    assert.deepEqual(countKinds(model), { enum: 1, struct: 7, union: 0, alternate: 0, command: 14, event: 2 });
    assert.deepEqual([...model.events.keys()], ['RTC_CHANGE', 'VFU_CLIENT_HANGUP']);
    assert.equal(parsed.docs.length, 25);
    assert.deepEqual(parsed.docs[0]!.heading, { level: 1, text: 'Miscellanea' });
  });

  it('reads every .. qmp-example:: (16)', () => {
    const examples = parsed.docs.flatMap((d) => d.examples);
    assert.equal(examples.length, 16);
    assert.ok(examples.every((e) => e.form === 'qmp-example' && !e.annotated));
    const fdsets = model.commands.get('query-fdsets')!.doc!.examples[0]!;
    assert.ok(fdsets.text.startsWith('-> { "execute": "query-fdsets" }\n<- { "return": ['));
    assert.ok(fdsets.text.endsWith(']\n}'));
    assert.equal(fdsets.text.split('\n').length, 28);
  });

  it('documents getfd: member, condition and its .. note::', () => {
    const getfd = model.commands.get('getfd')!;
    assert.equal(getfd.if, 'CONFIG_POSIX');
    const doc = getfd.doc!;
    assert.deepEqual([...doc.members], [['fdname', 'file descriptor name']]);
    assert.equal(doc.since, '0.14');
    assert.deepEqual(doc.notes, [
      'If @fdname already exists, the file descriptor assigned to\nit will be closed and replaced by the received file descriptor.\n\n' +
        "The 'closefd' command can be used to explicitly close the file\ndescriptor when it is no longer needed.",
    ]);
    assert.deepEqual(doc.examples.map((e) => e.text), ['-> { "execute": "getfd", "arguments": { "fdname": "fd1" } }\n<- { "return": {} }']);
  });

  it('documents add-fd: Returns, Errors, two notes, Since, example', () => {
    const doc = model.commands.get('add-fd')!.doc!;
    assert.equal(doc.returns, '@AddfdInfo');
    assert.equal(doc.errors, '- If file descriptor was not received, GenericError\n- If @fdset-id is a negative value, GenericError');
    assert.equal(doc.since, '1.2');
    assert.deepEqual(doc.notes, ['The list of fd sets is shared by all monitor connections.', 'If @fdset-id is not specified, a new fd set will be created.']);
    assert.deepEqual(doc.examples.map((e) => e.text), ['-> { "execute": "add-fd", "arguments": { "fdset-id": 1 } }\n<- { "return": { "fdset-id": 1, "fd": 3 } }']);
    assert.deepEqual(doc.sections.map((s) => s.kind), ['text', 'member', 'member', 'tagged', 'tagged', 'admonition', 'admonition', 'tagged', 'qmp-example']);
  });

  it('documents RTC_CHANGE members whose continuation lost its indentation', () => {
    const doc = model.events.get('RTC_CHANGE')!.doc!;
    assert.deepEqual([...doc.members], [
      ['offset', 'offset in seconds between base RTC clock (as specified by\n-rtc base), and new RTC clock value'],
      ['qom-path', 'path to the RTC object in the QOM tree'],
    ]);
    assert.equal(doc.since, '0.13');
  });
});
