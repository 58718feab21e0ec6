"""Waits until a Terraform S3-backend state lock is held, then prints it as one JSON line.

Usage: wait-for-lock.py ENDPOINT CA_BUNDLE STACK_JSON WATCHED_PID

Reads the backend (bucket, key, DynamoDB table) from the stack's cdk.tf.json once it exists, then
polls the emulator for the DynamoDB lock item (LockID "<bucket>/<key>") and the S3 lock file
("<key>.tflock"). Exits 1 when WATCHED_PID ends before a lock was seen.
"""
import json
import os
import sys
import time

import boto3
from botocore.config import Config

endpoint, ca_bundle, stack_json, watched_pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
POLL_SECONDS = 0.5


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def backend():
    try:
        with open(stack_json) as f:
            return json.load(f)["terraform"]["backend"]["s3"]
    except (OSError, ValueError, KeyError):
        return None


config = Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5)
clients = {
    name: boto3.client(name, endpoint_url=endpoint, verify=ca_bundle, region_name=os.environ.get("AWS_REGION", "eu-central-2"), config=config)
    for name in ("dynamodb", "s3")
}
while alive(watched_pid):
    s3 = backend()
    if s3 is not None:
        try:
            item = clients["dynamodb"].get_item(TableName=s3["dynamodb_table"], Key={"LockID": {"S": f"{s3['bucket']}/{s3['key']}"}}).get("Item")
        except Exception:  # table not there yet: the bootstrap has not run
            item = None
        if item is not None and "Info" in item:
            try:
                clients["s3"].head_object(Bucket=s3["bucket"], Key=f"{s3['key']}.tflock")
                lock_file = True
            except Exception:
                lock_file = False
            info = json.loads(item["Info"]["S"])
            print(json.dumps({"dynamodb_lock": info, "s3_lock_file": lock_file, "lock_id": f"{s3['bucket']}/{s3['key']}"}))
            sys.exit(0)
    time.sleep(POLL_SECONDS)
sys.exit(1)
