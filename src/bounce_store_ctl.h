/*
 * bounce_store_ctl: the control commands of the bounce store: bounces, suppress-list,
 * suppress-add and suppress-remove (relayctl bounces, relayctl suppress ...).
 */
#ifndef RELAYD_BOUNCE_STORE_CTL_H
#define RELAYD_BOUNCE_STORE_CTL_H

struct bounce_store;
struct control;

/* bounce_store_ctl_register: add the bounce store's commands, working on b, to c. */
void	bounce_store_ctl_register(struct control *c, struct bounce_store *b);

#endif
