/**
 * Reading a supergraph's `@link`ed specs: the names under which the document refers to a
 * spec's directives, and the argument values of directive applications. The gateway's own
 * readers of the supergraph (the access policy, the live schema) use it, so both follow the
 * `@link` naming rules the same way.
 */
import { Kind } from 'graphql';
import type { ConstArgumentNode, ConstDirectiveNode, ConstValueNode, DocumentNode } from 'graphql';

/** The value of a directive application's argument, if given. */
export function argumentOf(
  directive: ConstDirectiveNode,
  name: string,
): ConstValueNode | undefined {
  return directive.arguments?.find((arg: ConstArgumentNode) => arg.name.value === name)?.value;
}

/** A list value's items, with GraphQL's input coercion (a single value is a list of one). */
export function listOf(value: ConstValueNode): readonly ConstValueNode[] {
  return value.kind === Kind.LIST ? value.values : [value];
}

/**
 * Every name the document gives each of a spec's `directives`, from its `@link(url:, as:,
 * import:)` applications whose `url` `isSpec` accepts (it may throw for a version it cannot
 * read). As the link spec says: a directive named like the spec is `@<as ?? spec>`, any other
 * `@<as ?? spec>__<name>`, and an import adds its own name (`"@x"`, or `{ name: "@x", as:
 * "@y" }`). Null when no link names the spec: its directives are not part of the document.
 */
export function linkedDirectiveNames<TName extends string>(
  document: DocumentNode,
  spec: { name: string; isSpec: (url: string) => boolean },
  directives: readonly TName[],
): Map<TName, Set<string>> | null {
  let names: Map<TName, Set<string>> | null = null;
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.SCHEMA_DEFINITION && definition.kind !== Kind.SCHEMA_EXTENSION) {
      continue;
    }
    for (const link of definition.directives ?? []) {
      const url = argumentOf(link, 'url');
      if (link.name.value !== 'link' || url?.kind !== Kind.STRING || !spec.isSpec(url.value)) {
        continue;
      }
      names ??= new Map(directives.map((directive) => [directive, new Set<string>()]));
      const as = argumentOf(link, 'as');
      const prefix = as?.kind === Kind.STRING ? as.value : spec.name;
      for (const directive of directives) {
        names.get(directive)!.add(directive === spec.name ? prefix : `${prefix}__${directive}`);
      }
      const imports = argumentOf(link, 'import');
      for (const entry of imports ? listOf(imports) : []) {
        let name: string | undefined;
        let alias: string | undefined;
        if (entry.kind === Kind.STRING) {
          name = alias = entry.value;
        } else if (entry.kind === Kind.OBJECT) {
          const field = (key: string) => entry.fields.find((f) => f.name.value === key)?.value;
          const [nameValue, asValue] = [field('name'), field('as')];
          name = nameValue?.kind === Kind.STRING ? nameValue.value : undefined;
          alias = asValue?.kind === Kind.STRING ? asValue.value : name;
        }
        const imported = names.get(name?.replace(/^@/, '') as TName);
        if (imported && alias) imported.add(alias.replace(/^@/, ''));
      }
    }
  }
  return names;
}
