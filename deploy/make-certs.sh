#!/bin/sh
# Demonstration TLS for deploy/compose.yaml: a CA and Verdict's server certificate
# (names verdict and localhost), made once into the certs volume by the certs service
# (it runs in the mongo image, which has openssl). The invoices API trusts ca.crt.
# In a real deployment the certificate comes from your CA or cert-manager.
set -eu
dir="${1:-/certs}"
cd "$dir"
if [ -s server.crt ] && [ -s server.key ] && [ -s ca.crt ]; then
  echo "make-certs: certificates already in $dir"
  exit 0
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
  -subj "/CN=Verdict compose demo CA" -keyout ca.key -out ca.crt
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=verdict" -keyout server.key -out server.csr
printf 'subjectAltName=DNS:verdict,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 -extfile server.ext -out server.crt
# Nothing else is ever signed with this CA: its key is not kept.
rm -f ca.key ca.srl server.csr server.ext
# Verdict runs as the image's node user (uid 1000).
chown "${VERDICT_UID:-1000}" server.key
chmod 0400 server.key
chmod 0444 ca.crt server.crt
echo "make-certs: wrote ca.crt, server.crt and server.key to $dir"
