"""A link-job script as a qai_hub user writes it. The test runs it twice: as is, with the
official client against the emulator, and with only the import line changed to
``import aihubd_client as hub``, against a daemon on the same emulator.

Usage: qai_hub_link_script.py OUT_DIR MODEL_A MODEL_B SHARE_WITH_EMAIL
The last stdout line is a JSON summary of what the script saw.
"""

import json
import os
import sys

import qai_hub as hub

out, model_a, model_b, share_with = sys.argv[1:5]
device = hub.Device("Snapdragon 8 Elite QRD")

first = hub.upload_model(model_a)
second = hub.upload_model(model_b)
job = hub.submit_link_job([first, second], device=device, name="llm-parts")
assert isinstance(job, hub.LinkJob)
status = job.wait()

target = job.get_target_model()
os.makedirs(os.path.join(out, "model"))
model_path = target.download(os.path.join(out, "model", "linked"))
logs = job.download_job_logs(os.path.join(out, "logs"))
result = job.download_results(os.path.join(out, "results"))

job.modify_sharing(add_emails=[share_with])
shared = list(job.get_sharing())
job.modify_sharing(delete_emails=[share_with])
unshared = list(job.get_sharing())

job.set_name("llm-renamed")
again = hub.get_job(job.job_id)
summaries = [s for s in hub.get_job_summaries(limit=50) if s.job_id == job.job_id]

try:
    hub.submit_link_job([first, first], device=device)
    duplicate_error = ""
except hub.client.UserError as error:
    duplicate_error = str(error)

try:
    job.download_target_model(os.path.join(out, "missing") + os.sep)
    missing_dir_error = ""
except ValueError as error:
    missing_dir_error = str(error).replace(out, "OUT")

print(
    json.dumps(
        {
            "status": status.code,
            "success": status.success,
            "job_type": job.job_type,
            "input_names": sorted(m.name for m in job.models),
            "target_type": target.model_type.name,
            "target_producer": target.get_producer().job_id == job.job_id,
            "model_file": os.path.basename(model_path),
            "model_bytes": os.path.getsize(model_path),
            "log_files": sorted(os.path.basename(p).replace(job.job_id, "JOB") for p in logs),
            "result_status": result.status.code,
            "result_files": sorted(f.replace(job.job_id, "JOB") for f in os.listdir(result.artifacts_dir)),
            "shared": shared,
            "unshared": unshared,
            "renamed": again.name,
            "summary": [(s.name, s.status.code, s.job_type.name) for s in summaries],
            "duplicate_error": duplicate_error,
            "missing_dir_error": missing_dir_error,
        }
    )
)
