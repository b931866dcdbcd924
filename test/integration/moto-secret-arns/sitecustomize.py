"""Loaded by Python at startup when this folder is on PYTHONPATH (test/integration/s3-credentials-secret.test.ts).

moto authorizes every Secrets Manager action against the resource "*", so a policy that grants GetSecretValue on one
secret's ARN, as the sink's role has it, would be refused, and one secret could not be told from another. This makes
moto authorize those actions against the ARN of the secret the request names, as AWS does.
"""
try:
    from moto.secretsmanager.responses import SecretsManagerResponse
except Exception:  # another Python without moto: nothing to change
    SecretsManagerResponse = None

if SecretsManagerResponse is not None:

    def _determine_resource(self):
        secret_id = self._get_param("SecretId")
        if not secret_id:
            return "*"
        secret = self.backend.secrets.get(secret_id)
        if secret is not None:
            return secret.arn
        if secret_id.startswith("arn:"):
            return secret_id
        return f"arn:aws:secretsmanager:{self.region}:{self.current_account}:secret:{secret_id}"

    SecretsManagerResponse._determine_resource = _determine_resource
