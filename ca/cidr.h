/*
 * cidr: a list of IPv4 and IPv6 networks ("10.0.0.0/8", "::1/128", or a
 * bare address for one host), from a policy's allow-lists, and the check
 * whether a client's textual address is in one of them.
 */
#ifndef TESSERA_CA_CIDR_H
#define TESSERA_CA_CIDR_H

#include <stddef.h>

#include "common/status.h"

/* Up to LIMIT_POLICY_ENTRIES networks; immutable once built. */
struct cidr_list;

/* An empty list; NULL when out of memory. Free with cidr_list_free. */
struct cidr_list *cidr_list_new(void);

void cidr_list_free(struct cidr_list *list);

/*
 * Add the network s: ST_MALFORMED when s is not an address or an address
 * with a /prefix in range, ST_LIMIT when the list is full.
 */
enum status cidr_list_add(struct cidr_list *list, const char *s) MUST_CHECK;

/* The number of networks; 0 for NULL. */
size_t cidr_list_count(const struct cidr_list *list);

/*
 * 1 if the textual address (IPv4, IPv6, or IPv4-mapped IPv6 checked as
 * IPv4) is in one of list's networks; 0 for NULL or a non-address.
 */
int cidr_list_match(const struct cidr_list *list, const char *address);

#endif
