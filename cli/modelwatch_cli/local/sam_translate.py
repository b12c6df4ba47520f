"""Translate a SAM template to CloudFormation with the SAM translator; a script for the tools venv's Python.

`python sam_translate.py TEMPLATE [PARAMETERS_JSON]` prints the translated template as JSON. It imports only the
standard library and `samtranslator` (which pins boto3 and pydantic apart from the runtime, so it lives in
`.venv-tools`); `modelwatch_cli.local.translation` runs it there and caches the result.
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

# What `sam validate` and cfn-lint put in place of local paths: the translator accepts only S3 locations (the
# values are never dereferenced, so any well-formed bucket and key will do).
PLACEHOLDER_BUCKET = "modelwatch-placeholder-bucket"
PLACEHOLDER_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/modelwatch-placeholder:latest"
_LOCAL_PATH_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
}


def with_placeholder_uris(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of the template whose local CodeUri/ContentUri/DefinitionUri are S3 URIs and local images have an URI."""
    result = copy.deepcopy(document)
    function_globals = (result.get("Globals") or {}).get("Function") or {}
    if _is_local(function_globals.get("CodeUri")):
        function_globals["CodeUri"] = f"s3://{PLACEHOLDER_BUCKET}/Globals"
    for logical_id, resource in (result.get("Resources") or {}).items():
        key = _LOCAL_PATH_PROPERTIES.get(str(resource.get("Type"))) if isinstance(resource, dict) else None
        if key is None:
            continue
        properties = resource.get("Properties") or {}
        if properties.get("PackageType") == "Image":
            if "ImageUri" not in properties and (resource.get("Metadata") or {}).get("Dockerfile"):
                properties["ImageUri"] = PLACEHOLDER_IMAGE
        elif _is_local(properties.get(key)):
            properties[key] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}"
    return result


def _is_local(value: Any) -> bool:
    return isinstance(value, str) and not value.startswith("s3://")


def translate(document: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """The CloudFormation template SAM deploys for `document` with these parameter values."""
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform

    class NoManagedPolicyNames(ManagedPolicyLoader):
        """The template names managed policies by ARN only, so no IAM call (no account) is ever needed."""

        def __init__(self) -> None:
            pass

        def load(self) -> dict[str, str]:
            return {}

    try:
        translated: dict[str, Any] = transform(
            with_placeholder_uris(document), dict(parameters), NoManagedPolicyNames()
        )
    except InvalidDocumentException as exc:
        causes = "; ".join(str(cause) for cause in exc.causes)
        raise SystemExit(f"error: the SAM translator rejects the template: {causes}") from exc
    return translated


def main(argv: list[str]) -> int:
    from samtranslator.yaml_helper import yaml_parse

    if len(argv) not in (2, 3):
        print("usage: sam_translate.py TEMPLATE [PARAMETERS_JSON]", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        document = yaml_parse(handle.read())
    parameters = json.loads(argv[2]) if len(argv) == 3 else {}
    json.dump(translate(document, parameters), sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
