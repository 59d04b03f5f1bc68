import { readFileSync } from 'node:fs';
import type { BannerTokens } from '../enrollment/create-token.js';
import { templatePath } from '../home/create-home.js';
import { commandHint, securenodeCommand } from '../home/command-hint.js';

/** What the first-start banner shows; the enrollment tokens only when enrollment is enabled. */
export interface BannerContent extends BannerTokens {
  /** A generated password is shown; one the operator gave is only named by its source. */
  readonly password: { readonly kind: 'generated'; readonly value: string } | { readonly kind: 'given'; readonly source: string };
  readonly fingerprint: string;
  readonly caPath: string;
  /** securenode.yml, named in the steps to enroll nodes later. */
  readonly configFile: string;
  readonly port: number;
  /** The home, named in the commands the banner gives for this node. */
  readonly home: string;
  /** Whether the node serves its web console: the connect step gives its URL. */
  readonly console?: boolean;
}

/** How the terminal draws it. */
export interface TerminalStyle {
  readonly columns: number;
  readonly utf8: boolean;
  readonly color: boolean;
}

/** A terminal is attached when stdout is a TTY with a width above zero (SPEC 3.2). */
export function isTerminal(stdout: { isTTY?: boolean; columns?: number }): boolean {
  return stdout.isTTY === true && (stdout.columns ?? 0) > 0;
}

/** UTF-8 when the locale says so; colour unless NO_COLOR is set (https://no-color.org). */
export function terminalStyle(stdout: { columns?: number }, env: NodeJS.ProcessEnv): TerminalStyle {
  const locale = env.LC_ALL || env.LC_CTYPE || env.LANG || '';
  return { columns: stdout.columns ?? 80, utf8: /utf-?8/i.test(locale), color: env.NO_COLOR === undefined || env.NO_COLOR === '' };
}

/** A node token, or, for a node that listens on loopback only, the steps to enroll nodes later (as Elasticsearch prints them). */
function nodeItem(content: BannerContent, symbols: { info: string; bullet: string; dash: string }, bold: string, unbold: string): string {
  if (!content.node) return '';
  if (content.node.kind === 'token') {
    return `\n${symbols.info} ${bold}Node enrollment token, for other nodes to join this cluster (valid for the next 30 minutes):${unbold}\n  ${content.node.token}\n  On the new node: ${securenodeCommand()} start --enrollment-token <token>\n`;
  }
  return [
    '',
    `${symbols.info} ${bold}Configure other nodes to join this cluster:${unbold}`,
    `${symbols.bullet} On this node:`,
    `  ${symbols.dash} Create an enrollment token with \`${commandHint('create-enrollment-token -s node', content.home)}\`.`,
    `  ${symbols.dash} Uncomment the transport.host setting at the end of ${content.configFile}.`,
    `  ${symbols.dash} Restart securenode.`,
    `${symbols.bullet} On other nodes:`,
    `  ${symbols.dash} Start securenode with \`${securenodeCommand()} start --enrollment-token <token>\`, using the enrollment token that you generated.`,
    '',
  ].join('\n');
}

/**
 * The banner of SPEC 3.2 from templates/banner.txt: a label line, then the value
 * alone on the next line, indented two spaces, framed by a rule as wide as the
 * terminal. ASCII symbols when the terminal is not UTF-8; bold only with colour.
 */
export function renderBanner(content: BannerContent, style: TerminalStyle): string {
  const template = readFileSync(templatePath('banner.txt'), 'utf8');
  const symbols = style.utf8 ? { rule: '\u2501', ok: '\u2705', info: '\u2139\ufe0f ', bullet: '\u2022', dash: '\u2043' } : { rule: '-', ok: '->', info: '->', bullet: '*', dash: '-' };
  const [bold, unbold] = style.color ? ['\u001b[1m', '\u001b[22m'] : ['', ''];
  const passwordItem =
    content.password.kind === 'generated'
      ? `${symbols.info} ${bold}Password for the elastic user (reset with \`${commandHint('reset-password -u elastic', content.home)}\`):${unbold}\n  ${content.password.value}`
      : `${symbols.info} ${bold}The elastic user has the password given in ${content.password.source} (not shown).${unbold}`;
  const values: Record<string, string> = {
    rule: symbols.rule.repeat(Math.max(1, style.columns)),
    ok: symbols.ok,
    info: symbols.info,
    bold,
    '/bold': unbold,
    password_item: passwordItem,
    client_token_item: content.client
      ? `\n${symbols.info} ${bold}Client enrollment token (valid for the next 30 minutes):${unbold}\n  ${content.client}\n  A client enrolls with: ${securenodeCommand()} enroll --enrollment-token <token> --out ./client\n`
      : '',
    node_token_item: nodeItem(content, symbols, bold, unbold),
    fingerprint: content.fingerprint,
    ca_path: content.caPath,
    port: String(content.port),
    console_item: content.console ? `\n  or open https://localhost:${content.port}/_console/ in a browser and log in as elastic` : '',
  };
  return template.replace(/\{\{([a-z_/]+)\}\}/g, (whole, name: string) => values[name] ?? whole);
}
