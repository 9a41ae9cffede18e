// Counter keys are built from the policy's key parts (validated strings) and the
// window. The result is only ever used as a value (_id), never as a field name or
// operator, and each part is escaped so parts cannot run into each other.
export function counterId(key: readonly string[], bucketId: string): string {
  return [...key, bucketId].map((part) => encodeURIComponent(part)).join("/");
}

export function displayKey(key: readonly string[]): string {
  return key.map((part) => encodeURIComponent(part)).join("/");
}
