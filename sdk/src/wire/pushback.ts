import type { Metadata } from "@grpc/grpc-js";
import { RETRY_PUSHBACK_METADATA } from "./constants.js";

/**
 * gRFC A6's server pushback in a call's trailers: the milliseconds to wait before
 * sending the call again, or undefined when it is absent or not a whole number of
 * milliseconds a timer can hold (gRFC A6: a client ignores a malformed pushback).
 */
export function retryPushbackMs(trailers: Metadata | undefined): number | undefined {
  const [value] = trailers?.get(RETRY_PUSHBACK_METADATA) ?? [];
  return typeof value === "string" && /^(0|[1-9][0-9]{0,9})$/.test(value) && Number(value) <= 2 ** 31 - 1 ? Number(value) : undefined;
}
