export { ssfSchema, type SsfConfig, type TransmitterConfig } from "./config.js";
export { CAEP, EVENT_EFFECTS, RISC, targetOf as subjectTarget } from "./events.js";
export { CALL_MS } from "./calls.js";
export { CLAIM_MS, SsfReceiver, type Delivery, type SetErrorCode, type SsfReceiverOptions } from "./receiver.js";
