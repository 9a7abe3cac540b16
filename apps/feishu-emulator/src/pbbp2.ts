// pbbp2: the protobuf frame Feishu's long connection speaks (proto2, `pbbp2.Frame`). Our own encoder and
// decoder for its few fields, written from the .proto (reference doc section 4.3 (c)) rather than imported
// from the SDK, so a mistake in either cannot hide behind the other: the emulator's test runs the SDK's
// WSClient against this codec.
//
//   message Header { required string key = 1; required string value = 2; }
//   message Frame  { required uint64 SeqID = 1; required uint64 LogID = 2; required int32 service = 3;
//                    required int32 method = 4; repeated Header headers = 5; optional string payload_encoding = 6;
//                    optional string payload_type = 7; optional bytes payload = 8; optional string LogIDNew = 9; }

export interface FrameHeader {
  readonly key: string;
  readonly value: string;
}

export interface Frame {
  readonly SeqID: number;
  readonly LogID: number;
  readonly service: number;
  /** 0: control (ping, pong); 1: data (events, callbacks, their acknowledgements). */
  readonly method: number;
  readonly headers: readonly FrameHeader[];
  readonly payloadEncoding?: string | undefined;
  readonly payloadType?: string | undefined;
  readonly payload?: Uint8Array | undefined;
  readonly LogIDNew?: string | undefined;
}

export const FrameMethod = { control: 0, data: 1 } as const;

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

class Writer {
  readonly #bytes: number[] = [];

  varint(value: number | bigint): void {
    // Negative int32 values are written as 64-bit two's complement (10 bytes), as proto2 requires.
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.#bytes.push(Number((v & 0x7fn) | 0x80n));
      v >>= 7n;
    }
    this.#bytes.push(Number(v));
  }

  tag(field: number, wireType: number): void {
    this.varint((field << 3) | wireType);
  }

  bytes(field: number, value: Uint8Array): void {
    this.tag(field, LENGTH_DELIMITED);
    this.varint(value.length);
    for (const b of value) this.#bytes.push(b);
  }

  string(field: number, value: string): void {
    this.bytes(field, new TextEncoder().encode(value));
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }
}

export function encodeFrame(frame: Frame): Uint8Array {
  const w = new Writer();
  w.tag(1, VARINT);
  w.varint(frame.SeqID);
  w.tag(2, VARINT);
  w.varint(frame.LogID);
  w.tag(3, VARINT);
  w.varint(frame.service);
  w.tag(4, VARINT);
  w.varint(frame.method);
  for (const header of frame.headers) {
    const h = new Writer();
    h.string(1, header.key);
    h.string(2, header.value);
    w.bytes(5, h.finish());
  }
  if (frame.payloadEncoding !== undefined) w.string(6, frame.payloadEncoding);
  if (frame.payloadType !== undefined) w.string(7, frame.payloadType);
  if (frame.payload !== undefined) w.bytes(8, frame.payload);
  if (frame.LogIDNew !== undefined) w.string(9, frame.LogIDNew);
  return w.finish();
}

export class FrameDecodeError extends Error {
  readonly code = 'frame_malformed';
}

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.buf.length) throw new FrameDecodeError('truncated varint');
      const byte = this.buf[this.pos++] as number;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return BigInt.asUintN(64, result);
    }
    throw new FrameDecodeError('varint longer than 10 bytes');
  }

  bytes(): Uint8Array {
    const length = Number(this.varint());
    if (this.pos + length > this.buf.length) throw new FrameDecodeError('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  string(): string {
    return new TextDecoder('utf-8').decode(this.bytes());
  }

  skip(wireType: number): void {
    if (wireType === VARINT) this.varint();
    else if (wireType === FIXED64) this.pos += 8;
    else if (wireType === LENGTH_DELIMITED) this.bytes();
    else if (wireType === FIXED32) this.pos += 4;
    else throw new FrameDecodeError(`unsupported wire type ${wireType}`);
  }
}

const int32 = (v: bigint) => Number(BigInt.asIntN(32, v));
const uint64 = (v: bigint) => Number(v);

function decodeHeader(buf: Uint8Array): FrameHeader {
  const r = new Reader(buf);
  let key = '';
  let value = '';
  while (!r.done) {
    const tag = Number(r.varint());
    const field = tag >> 3;
    if (field === 1 && (tag & 7) === LENGTH_DELIMITED) key = r.string();
    else if (field === 2 && (tag & 7) === LENGTH_DELIMITED) value = r.string();
    else r.skip(tag & 7);
  }
  return { key, value };
}

/** Decodes one frame; unknown fields are skipped, as protobuf requires. Throws FrameDecodeError. */
export function decodeFrame(buf: Uint8Array): Frame {
  const r = new Reader(buf);
  let SeqID = 0;
  let LogID = 0;
  let service = 0;
  let method = 0;
  const headers: FrameHeader[] = [];
  let payloadEncoding: string | undefined;
  let payloadType: string | undefined;
  let payload: Uint8Array | undefined;
  let LogIDNew: string | undefined;
  while (!r.done) {
    const tag = Number(r.varint());
    const field = tag >> 3;
    const wireType = tag & 7;
    const expect = field <= 4 ? VARINT : LENGTH_DELIMITED;
    if (field < 1 || field > 9 || wireType !== expect) {
      r.skip(wireType);
      continue;
    }
    if (field === 1) SeqID = uint64(r.varint());
    else if (field === 2) LogID = uint64(r.varint());
    else if (field === 3) service = int32(r.varint());
    else if (field === 4) method = int32(r.varint());
    else if (field === 5) headers.push(decodeHeader(r.bytes()));
    else if (field === 6) payloadEncoding = r.string();
    else if (field === 7) payloadType = r.string();
    else if (field === 8) payload = Uint8Array.from(r.bytes());
    else LogIDNew = r.string();
  }
  if (r.pos > buf.length) throw new FrameDecodeError('truncated field');
  return { SeqID, LogID, service, method, headers, payloadEncoding, payloadType, payload, LogIDNew };
}

/** The value of a header (the last one wins, as the SDK's reduce into an object does). */
export function headerValue(frame: Frame, key: string): string | undefined {
  let value: string | undefined;
  for (const h of frame.headers) if (h.key === key) value = h.value;
  return value;
}
