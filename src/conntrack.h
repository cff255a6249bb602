/* Conntrack cleanup for connectionless protocols (UDP, SCTP).
 *
 * A UDP "connection" lives in conntrack as long as packets keep coming, and
 * keeps the NAT decision made for its first packet. So after a sync:
 *  - flows DNATed to an endpoint that is no longer used by that ServicePort
 *    are deleted, or they would blackhole into a gone pod;
 *  - flows to a frontend (ClusterIP, externalIP, LB IP, NodePort) of a
 *    ServicePort that went from no endpoints to some are deleted, or they
 *    would keep bypassing the new DNAT.
 * TCP needs none of this: a TCP flow to a gone endpoint is reset or times out
 * and the next connection is a new flow. (Same rules as kube-proxy's
 * conntrack cleanup.) */
#ifndef KNP_CONNTRACK_H
#define KNP_CONNTRACK_H

#include <stddef.h>
#include "model.h"

/* Compare @old (the model of the previous committed sync; may be empty) and
 * @new (just committed) and delete the stale UDP/SCTP flows of @family.
 * Reads the conntrack table once (libnetfilter_conntrack) when anything
 * needs cleaning, and not at all otherwise. Returns the number of flows
 * deleted (>= 0) or -errno (the kernel rules are not affected). */
int conntrack_reconcile(const struct model *old, const struct model *new, int family);

#endif
