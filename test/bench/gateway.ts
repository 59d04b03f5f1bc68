// The gateway's cost (P6): authenticated requests per second through
// securenode's gateway to a small upstream, against the same upstream behind
// Debian's nginx with auth_basic (an apr1 entry, over TLS as well) and reached
// directly, alternating in one run; p99 latency of each.
import { spawn, type ChildProcess } from 'node:child_process';
import { access, writeFile } from 'node:fs/promises';
import autocannon from 'autocannon';
import { execa } from 'execa';
import { freePort } from '../helpers/free-port.js';
import { serve } from './keep-alive.js';

/** A small upstream in its own process: GET answers a short JSON body. */
async function smallUpstream(): Promise<{ port: number; child: ChildProcess }> {
  const code = "const s=require('node:http').createServer((q,r)=>{r.setHeader('content-type','application/json');r.end('{\"ok\":true}')});s.keepAliveTimeout=60000;s.listen(0,'127.0.0.1',()=>console.log(s.address().port))";
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (chunk: Buffer) => resolve(Number(String(chunk).trim()))));
  return { port, child };
}

/** nginx (one process, as the node is one thread; no master, so no switch to a user that cannot read the files) terminating TLS with a P-256 certificate, auth_basic with an apr1 entry, keep-alive to the upstream. */
async function nginxInFront(dir: string, upstreamPort: number, user: string, password: string): Promise<{ port: number; stop: () => void }> {
  await execa('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${dir}/nginx.key`, '-out', `${dir}/nginx.crt`, '-subj', '/CN=127.0.0.1', '-days', '1']);
  const apr1 = (await execa('openssl', ['passwd', '-apr1', password])).stdout.trim();
  await writeFile(`${dir}/htpasswd`, `${user}:${apr1}\n`);
  const port = await freePort();
  await writeFile(
    `${dir}/nginx.conf`,
    `worker_processes 1;\ndaemon off;\nmaster_process off;\nerror_log ${dir}/nginx-error.log;\npid ${dir}/nginx.pid;\nevents { worker_connections 256; }\nhttp {\n  access_log off;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n  fastcgi_temp_path ${dir}/fastcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;\n  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 32; }\n  server {\n    listen 127.0.0.1:${port} ssl;\n    ssl_certificate ${dir}/nginx.crt;\n    ssl_certificate_key ${dir}/nginx.key;\n    keepalive_requests 100000;\n    location /app/ {\n      auth_basic "app";\n      auth_basic_user_file ${dir}/htpasswd;\n      proxy_http_version 1.1;\n      proxy_set_header Connection "";\n      proxy_set_header Authorization "";\n      proxy_pass http://app;\n    }\n    location /open/ {\n      proxy_http_version 1.1;\n      proxy_set_header Connection "";\n      proxy_pass http://app;\n    }\n  }\n}\n`,
  );
  const child = spawn('/usr/sbin/nginx', ['-p', dir, '-c', `${dir}/nginx.conf`], { stdio: 'ignore' });
  await new Promise((resolve) => setTimeout(resolve, 500));
  return { port, stop: () => child.kill('SIGTERM') };
}

interface Rate { rps: number; p99: number }

async function measure(url: string, headers: Record<string, string>, seconds: number): Promise<Rate> {
  const result = await autocannon({ url, connections: 16, duration: seconds, headers, tlsOptions: { rejectUnauthorized: false } } as autocannon.Options);
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx answers and ${result.errors} errors: ${JSON.stringify(result.statusCodeStats)}`);
  return { rps: result.requests.average, p99: result.latency.p99 };
}

export interface GatewayFigures { node: Rate[]; nginx: Rate[]; nginxOpen: Rate[]; direct: Rate[]; skipped?: string }

/** Rounds of securenode, nginx (auth_basic, and no authentication) and direct, alternating. */
export async function gatewayRates(dir: string, rounds: number, seconds: number): Promise<GatewayFigures> {
  if (await access('/usr/sbin/nginx').then(() => false, () => true)) return { node: [], nginx: [], nginxOpen: [], direct: [], skipped: 'no /usr/sbin/nginx (apt-get install nginx-light)' };
  const password = 'bench-password-1';
  const upstream = await smallUpstream();
  const node = await serve('node', `${dir}/home`, password, { BENCH_UPSTREAM: `http://127.0.0.1:${upstream.port}` });
  const nginx = await nginxInFront(dir, upstream.port, 'elastic', password);
  const auth = { authorization: `Basic ${Buffer.from(`elastic:${password}`).toString('base64')}` };
  const figures: GatewayFigures = { node: [], nginx: [], nginxOpen: [], direct: [] };
  try {
    for (let round = 0; round < rounds; round++) {
      figures.node.push(await measure(`https://127.0.0.1:${node.port}/app/x`, auth, seconds));
      figures.nginx.push(await measure(`https://127.0.0.1:${nginx.port}/app/x`, auth, seconds));
      // TLS termination and proxying alone, no authentication: what any TLS proxy on this machine costs.
      figures.nginxOpen.push(await measure(`https://127.0.0.1:${nginx.port}/open/x`, {}, seconds));
      figures.direct.push(await measure(`http://127.0.0.1:${upstream.port}/app/x`, {}, seconds));
    }
  } finally {
    node.stop();
    nginx.stop();
    upstream.child.kill();
  }
  return figures;
}
