import { settingDefinitions, type SettingType } from '../settings/schema.js';

function describeType(type: SettingType): string {
  switch (type.kind) {
    case 'int':
      return `number ${type.min}-${type.max}`;
    case 'enum':
      return type.values.join(' | ');
    case 'list':
      return type.values ? `list of ${type.values.join(', ')}` : 'list';
    case 'routes':
      return 'list of routes';
    default:
      return type.kind;
  }
}

/** The text of `securenode --help-settings`: one block per setting, from the one schema. */
export function renderSettingsHelp(): string {
  const lines = ['Settings (securenode.yml, SECURENODE_<KEY> variables, or -E key=value; later wins):', ''];
  for (const definition of settingDefinitions) {
    const fallback = typeof definition.default === 'function' ? '(computed)' : definition.default === undefined ? '(unset)' : JSON.stringify(definition.default);
    lines.push(`${definition.key}  [${describeType(definition.type)}]  default: ${fallback}`);
    lines.push(`    ${definition.description}`);
  }
  return `${lines.join('\n')}\n`;
}
