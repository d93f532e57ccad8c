/**
 * A "no responders" answer sent on behalf of a subject nobody subscribes to. NATS tells a requester
 * itself (status 503) only when the requester published the request; a hop that forwards the
 * request with the requester's reply subject (the router) must say it explicitly, or the requester
 * waits out its timeout. The message is what the server would have sent: empty, status 503.
 */
import { headers, type NatsConnection } from "@nats-io/transport-node";

export const noRespondersStatus = 503;

export function respondNoResponders(nc: NatsConnection, replySubject: string): void {
  nc.publish(replySubject, new Uint8Array(0), { headers: headers(noRespondersStatus, "No Responders") });
}
