// Writes POINTS points to the collector with the official InfluxDB JavaScript client, the way an application
// would, and prints one JSON summary line: the HTTP requests the client made and the batches it reported.
// Exit code 0 only if the client confirmed every line (3 after a failed write, 4 when not all were confirmed).
//
// Environment: COLLECTOR_URL, COLLECTOR_TOKEN (optional), POINTS, RUN (tag value), BASE_NS, STEP_NS.
import http from 'node:http';
import {InfluxDB, Point} from '@influxdata/influxdb-client';

const url = process.env.COLLECTOR_URL;
const token = process.env.COLLECTOR_TOKEN || undefined;
const points = Number(process.env.POINTS);
const run = process.env.RUN;
const base = BigInt(process.env.BASE_NS);
const step = BigInt(process.env.STEP_NS);

// The client's Node transport takes its request function from this option; wrapping it records the requests.
const requests = [];
const recording = {
  request: (options, ...rest) => {
    const headers = options.headers || {};
    requests.push({
      path: options.path,
      encoding: headers['content-encoding'] || 'identity',
      authorization: headers['authorization'] ? String(headers['authorization']).split(' ')[0] : 'none',
    });
    return http.request(options, ...rest);
  },
};

const successes = [];
const failures = [];
const writeApi = new InfluxDB({url, token, transportOptions: {'follow-redirects': {http: recording}}})
  .getWriteApi('spillway-org', 'spillway-bucket', 'ns', {
    maxRetries: 0, // a failure must surface, not be retried away
    writeSuccess: (lines) => { successes.push(lines.length); },
    writeFailed: (error, lines) => { failures.push(`${lines.length} lines: ${error}`); }, // then the client logs it
  });
writeApi.useDefaultTags({run});

for (let i = 0; i < points; i++) {
  writeApi.writePoint(new Point('jsclient')
    .tag('host', `h${i % 4}`)
    .tag('region', 'eu west,1=a') // space, comma and equals sign: the client must escape them
    .floatField('f', i + 0.5)
    .intField('i', i)
    .booleanField('b', i % 2 === 0)
    .stringField('s', `str "${i}"`)
    .timestamp((base + BigInt(i) * step).toString()));
}
// close() flushes what is still buffered, but does not wait for the batches that filled up (and were sent)
// during writePoint: wait for every line to be reported written or failed.
await writeApi.close();
const deadline = Date.now() + 60_000;
while (successes.reduce((a, b) => a + b, 0) < points && failures.length === 0 && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}
console.log(JSON.stringify({requests, successes, failures}));
if (failures.length > 0) {
  console.error(`write failed: ${failures.join('; ')}`);
  process.exit(3);
}
if (successes.reduce((a, b) => a + b, 0) !== points) {
  console.error(`only ${successes.reduce((a, b) => a + b, 0)} of ${points} lines confirmed within 60 s`);
  process.exit(4);
}
