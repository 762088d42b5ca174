// A Lambda handler for self-managed Kafka events, run by AWS's Node.js
// runtime interface client (aws-lambda-ric) as an exec runtime-api worker
// (tests/e2e/test_aws_ric.py). Its env map chooses what it does:
//   OUT       directory it writes to: env-<pid>.json (the environment the
//             worker started with, and its pid), <pid>.log (a line per
//             record per invocation: "seen ID", then "fail ID" or "ok ID"),
//             context-<pid>.json (the context of its first invocation),
//             failed-ID (made once, when ID first failed)
//   FAIL_MOD, FAIL_REM  records whose offset % FAIL_MOD == FAIL_REM are
//             named in batchItemFailures the first time any worker sees them
import fs from "node:fs";
import path from "node:path";

const OUT = process.env.OUT;
const MOD = Number(process.env.FAIL_MOD || 0);
const REM = Number(process.env.FAIL_REM || 0);

fs.writeFileSync(path.join(OUT, `env-${process.pid}.json`),
                 JSON.stringify({pid: process.pid, env: process.env, cwd: process.cwd()}));

let invocations = 0;

// True only for the first caller, in whichever worker: O_EXCL decides.
function firstFailure(id) {
  try {
    fs.writeFileSync(path.join(OUT, `failed-${id}`), "", {flag: "wx"});
    return true;
  } catch (e) {
    if (e.code === "EEXIST") return false;
    throw e;
  }
}

export const handler = async (event, context) => {
  if (invocations++ === 0) {
    fs.writeFileSync(path.join(OUT, `context-${process.pid}.json`), JSON.stringify({
      functionName: context.functionName, functionVersion: context.functionVersion,
      memoryLimitInMB: context.memoryLimitInMB, logGroupName: context.logGroupName,
      logStreamName: context.logStreamName, invokedFunctionArn: context.invokedFunctionArn,
      awsRequestId: context.awsRequestId}));
  }
  const lines = [];
  const failures = [];
  for (const records of Object.values(event.records)) {
    for (const r of records) {
      const id = `${r.topic}-${r.partition}-${r.offset}`;
      lines.push(`seen ${id}`);
      if (MOD && r.offset % MOD === REM && firstFailure(id)) {
        failures.push({itemIdentifier: {partition: `${r.topic}-${r.partition}`, offset: r.offset}});
        lines.push(`fail ${id}`);
      } else {
        lines.push(`ok ${id}`);
      }
    }
  }
  fs.appendFileSync(path.join(OUT, `${process.pid}.log`), lines.join("\n") + "\n");
  return {batchItemFailures: failures};
};
