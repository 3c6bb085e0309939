"""What the pages say when a service refuses: every :class:`~suanli.errors.DomainError` code → an English msgid,
translated where it is shown (at the top of a form, next to a field, or on an error page).

A msgid may carry ``%(name)s`` placeholders filled from the error's ``details`` (amounts in fen shown as yuan,
lists joined with commas), but only names that every raise site of that code passes; the codes the seller and
operator pages put next to a field (``seller.fail``) have none. ``tests/web/test_error_messages.py`` scans the
source for the codes raised and fails when one has no message here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from suanli.errors import DomainError
from suanli.web.i18n import N_, format_money

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")

DOMAIN_MESSAGES: dict[str, str] = {
    # errors.py and catalog/search.py: the class defaults
    "bad_request": N_("This request cannot be done. Check what you entered and try again."),
    "invalid_input": N_("Something you entered is not valid. Check it and try again."),
    "not_authenticated": N_("Please log in first."),
    "forbidden": N_("Your account is not allowed to do this."),
    "not_found": N_("This was not found. It may have been removed, or the address is wrong."),
    "conflict": N_("This cannot be done now. Reload the page and try again."),
    "insufficient_funds": N_("Your wallet does not cover this: it needs %(needed_fen)s and has %(available_fen)s "
                             "available. Top up, or choose fewer units or a shorter term."),
    "invalid_query": N_("The search text is not valid."),
    "unknown_query_parameter": N_("The address has a parameter this page does not take: %(unknown)s. Remove it "
                                  "and try again."),
    # accounts
    "invalid_credentials": N_("Wrong email or password."),
    "email_taken": N_("An account with this email exists already; log in instead."),
    "organization_exists": N_("An organization with this name exists already; choose another name."),
    "weak_password": N_("The password must have at least 8 characters."),
    "wrong_role": N_("Your account's role cannot do this."),
    "invalid_token": N_("Your login is no longer valid. Log in again, or use a current API key."),
    "token_expired": N_("Your login has expired. Log in again."),
    "account_disabled": N_("This account is disabled. Contact the platform operator."),
    "api_key_not_found": N_("This API key does not exist, or it is not yours."),
    "too_many_attempts": N_("Too many attempts. Wait a few minutes and try again; if you forgot your password, ask "
                            "the platform operator to reset it."),
    "common_password": N_("This password is one of the most common ones, which attackers try first. Choose "
                          "another: a few unrelated words make a strong password that is easy to remember."),
    "password_like_account": N_("The password must not contain your email or name."),
    "password_unchanged": N_("The new password is the same as the current one; choose another."),
    "password_change_required": N_("An operator reset your password. Choose a new one on the change password "
                                   "page before you log in."),
    "email_mixed_scripts": N_("This email mixes letters of different alphabets, as lookalike addresses do. Type "
                              "it again in one alphabet."),
    "email_confusable": N_("This email is written in letters that only look like Latin ones. Type it again in "
                           "Latin letters."),
    "invalid_email": N_("This is not an email address; write it like name@example.cn."),
    "user_not_found": N_("There is no account with this email."),
    # catalog: regions, data centers, products
    "region_exists": N_("A region with this province and city exists already."),
    "region_not_found": N_("Choose a region from the list."),
    "datacenter_exists": N_("Your organization has a data center with this name already."),
    "datacenter_not_found": N_("This data center does not exist, or it is not open to you."),
    "not_owner": N_("This belongs to another organization."),
    "unknown_chip": N_("Choose a chip from the list."),
    "chip_not_found": N_("Choose a chip from the list."),
    "guidance_not_found": N_("No guidance price is published for this chip."),
    "chip_required": N_("An accelerator server needs a chip."),
    "accelerators_required": N_("An accelerator server has at least 1 accelerator per unit."),
    "chip_not_allowed": N_("Only accelerator servers have a chip."),
    "spot_above_on_demand": N_("The spot floor must not exceed the on-demand price."),
    "audit_head_missing": N_("The platform's audit trail is damaged, so this change was not made. Tell the platform "
                             "operator (suanli audit verify)."),
    "price_needs_confirmation": N_("Some prices are far from the market. Check them; if they are right, confirm "
                                   "them."),
    "stock_below_allocated": N_("More units than this are rented out now."),
    "product_not_found": N_("This product does not exist, or it is no longer listed."),
    "product_unavailable": N_("This product was just taken out of the catalog, so it cannot be ordered or "
                              "extended."),
    "mode_not_offered": N_("This product is not sold in that billing mode."),
    "insufficient_stock": N_("Not enough units are free for this product now (%(available_units)s free). Choose "
                             "fewer units or another product."),
    # catalog search (the query language's codes)
    "invalid_cursor": N_("The link to the next page is out of date. Search again."),
    "invalid_value": N_("A value given is not valid. Check it and try again."),
    "unknown_field": N_("There is no search field “%(field)s”; check its spelling."),
    "invalid_operator": N_("The operator “%(operator)s” cannot be used with “%(field)s”; use one of: "
                           "%(valid_operators)s."),
    "out_of_range": N_("The value %(value)s is out of range for “%(field)s”."),
    "invalid_sort": N_("The search cannot be sorted by “%(value)s”. Sort by one of: %(valid_sort_fields)s."),
    "syntax_error": N_("The search text cannot be read at position %(position)s. Check its quotes, commas "
                       "and operators."),
    "unknown_word": N_("The search does not know the word “%(text)s”: remove it, or write a condition such as "
                       "chip=A800."),
    "sort_given_twice": N_("The search is sorted twice (%(sort)s and %(q_sort)s): keep one of them."),
    # clusters and jobs
    "cluster_exists": N_("This data center has a cluster with this name already."),
    "invalid_cluster": N_("The cluster cannot be used with these settings: check its kind, address and "
                          "credentials."),
    "cluster_not_found": N_("This data center has no such cluster."),
    "endpoint_not_allowed": N_("The platform may not send requests to this address (the platform's own machine, "
                               "or a private or local network). Give the address where the platform reaches your "
                               "cluster over the Internet, or ask the operator to allow your cluster's network."),
    "local_cluster_operator_only": N_("Only an operator may register a local cluster, which runs on the "
                                      "platform's own machine. Register your Slurm or Ray cluster by its URL."),
    "host_path_operator_only": N_("Only an operator may give a cluster a directory on the platform's own machine "
                                  "(shared_dir). Register the cluster without it."),
    "cluster_draining": N_("This cluster is being deleted; enable it first to keep it."),
    "cluster_disabled": N_("The data center has taken this product's cluster out of service, so no new machines "
                           "start on it; choose another product."),
    "product_not_in_datacenter": N_("Some of the chosen products are not in this cluster's data center; choose "
                                    "products of this data center."),
    "unknown_ecosystem": N_("This accelerator ecosystem is not supported; use one of: %(valid_values)s."),
    "no_resources": N_("A job must ask for accelerators, vCPUs or memory."),
    "product_not_schedulable": N_("A chosen product can be ordered but runs no jobs (there is no cluster behind "
                                  "it); choose another product."),
    "bid_required": N_("A spot order or job needs a bid: the most you will pay per hour. Enter one, or choose "
                       "another billing mode."),
    "bid_not_applicable": N_("A bid applies to spot only. Leave it empty, or choose spot."),
    "job_too_large": N_("No data center can run this many accelerators at once: the most one cluster holds is "
                        "%(largest_accelerators)s (in %(datacenter)s). Ask for fewer, or split the work."),
    "bid_below_floor": N_("Your bid is below the seller's spot floor price of %(floor_fen)s per unit-hour."),
    "invalid_job": N_("The job cannot run as written. Check its name, command, environment variables and files."),
    "job_not_found": N_("This job does not exist, or it is not yours."),
    "job_not_cancellable": N_("This job has finished; only waiting or running jobs can be cancelled."),
    "logs_owner_only": N_("Only the buyer who submitted a job can read its logs."),
    "logs_unavailable": N_("The job's logs cannot be read from its cluster now. Try again in a moment."),
    "not_free": N_("The free units of this product are held for other orders now; the job waits for free units."),
    # orders, wallets, payments, invoices
    "order_not_found": N_("This order does not exist, or it is not yours."),
    "order_not_active": N_("This order is not running any more."),
    "reserved_not_releasable": N_("A reserved order runs to the end of its term and cannot be released early."),
    "not_cancellable": N_("A reserved order is paid upfront for its term and cannot be cancelled."),
    "cancel_window_passed": N_("An order can be cancelled free of charge only within %(grace_seconds)s seconds of "
                               "its start. Release it instead, paying for the time used."),
    "not_extendable": N_("Only reserved orders have a term to extend. On-demand and spot orders run until you "
                         "release them."),
    "invalid_term": N_("The term must be one of these numbers of months: %(valid_values)s."),
    "term_not_applicable": N_("A term applies to reserved orders only. Leave it empty, or choose reserved."),
    "idempotency_key_reused": N_("This request was already used for a different order or extension. Reload the "
                                 "page and try again."),
    "organization_not_found": N_("Choose an organization from the list."),
    "not_a_buyer": N_("Only buyer organizations have a wallet to top up."),
    "not_a_seller": N_("Only seller organizations are paid out; choose a seller organization."),
    "topup_reference_reused": N_("This reference was used for another top-up; each payment needs its own "
                                 "reference."),
    "payout_reference_reused": N_("This reference was used for another payout; each payment needs its own "
                                  "reference."),
    "refund_reference_reused": N_("This reference was used for another refund; each refund needs its own "
                                  "reference."),
    "refund_exceeds_charges": N_("Only %(refundable_fen)s of this order's charges can still be refunded."),
    "insufficient_receivable": N_("The seller's receivable of %(receivable_fen)s does not cover this. Choose a "
                                  "smaller amount, or settle with the seller first."),
    "invalid_period": N_("A period is a month written YYYY-MM, such as 2026-11."),
    "invalid_day": N_("Enter a day as YYYY-MM-DD, such as 2026-12-07."),
    "invalid_days": N_("The number of days asked for is out of range; ask for fewer days."),
    "invoice_not_found": N_("This statement does not exist, or it is not yours."),
    # the advisor and job templates
    "invalid_workload": N_("The workload is not described correctly; check its fields."),
    "nothing_feasible": N_("Nothing fits this deadline and budget, so there is nothing to launch."),
    "option_not_found": N_("This option is not among the feasible ones any more. Get the recommendations again "
                           "and choose one."),
    "not_schedulable": N_("This data center rents the product out but runs no jobs on it. Order it, or launch "
                          "another option."),
    "no_template": N_("There is no ready template for this workload on this chip; submit the job yourself."),
    "template_not_found": N_("There is no such template; choose one from the list."),
    "template_mismatch": N_("This template does not fit the chosen workload or chip; choose another template."),
    "invalid_template_parameter": N_("A template parameter is not valid; check the parameters."),
    "too_long": N_("This work may take longer than a job is allowed to run. Split it, or choose an option with "
                   "more accelerators."),
    # instances: SSH keys, images, machines delivered by leases
    "invalid_ssh_key": N_("This is not an SSH public key that can be installed. Paste one line of your .pub file "
                          "(ed25519, ECDSA, or RSA of 2048 bits or more), never the private key."),
    "invalid_ssh_key_name": N_("The key's name must be at most 100 printable characters."),
    "ssh_key_exists": N_("You added this key already."),
    "too_many_ssh_keys": N_("Your account holds the most SSH keys it can; delete one you no longer use."),
    "ssh_key_not_found": N_("That SSH key is not one of yours; choose among your keys."),
    "ssh_key_required": N_("This product is a machine you log into with SSH: add your public key first (My account "
                           "→ SSH keys)."),
    "image_required": N_("Choose the image to start the machine with: %(valid_values)s."),
    "unknown_image": N_("There is no such image; this product offers %(valid_values)s."),
    "image_not_offered": N_("This product does not offer that image; it offers %(valid_values)s."),
    "duplicate_image": N_("An image is listed twice."),
    "invalid_image_reference": N_("An image reference is not valid: registry/name:tag or @sha256:digest, without "
                                  "spaces."),
    "too_many_images": N_("Too many images: at most 50."),
    "invalid_port": N_("Ports to expose are whole numbers from 1024 to 65535, each once, at most 8, and not 22 or "
                       "8888 (SSH and JupyterLab use them)."),
    "not_an_instance_product": N_("This product rents units only (storage or batch jobs); images, ports and SSH keys "
                                  "apply to machines."),
    "instance_not_found": N_("There is no such machine among yours."),
    "not_manual_delivery": N_("This machine is started by the data center's cluster; it is not delivered by hand."),
    "instance_not_waiting": N_("This machine is not waiting for delivery any more."),
    "invalid_access_details": N_("An access detail is not valid: check the host, user, port, fingerprints and the "
                                 "JupyterLab address (http or https)."),
    "reason_required": N_("Say why; the buyer is told."),
    # emergency compute (应急算力)
    "chips_or_ecosystems_required": N_("Name the chips or the software ecosystems the emergency workload runs on."),
    "unknown_province": N_("No data center is in that province; the provinces are %(valid_values)s."),
    "payer_not_buyer": N_("The payer must be a buyer organization with a wallet."),
    "payer_without_user": N_("The paying organization has no buyer user to place its orders."),
    "no_capacity": N_("No matching capacity can be assembled now. Widen the chips, ecosystems or provinces, or ask "
                      "for fewer accelerators."),
    "emergency_not_found": N_("There is no such emergency."),
    "emergency_ended": N_("This emergency has ended."),
    "offer_not_found": N_("You have no such emergency offer."),
    "offer_answered": N_("This offer was already answered."),
    "lease_not_active": N_("The reserved lease is no longer active; it has no units to lend."),
    "units_busy": N_("Too few units of the reserved lease are idle now. Decline the offer, or stop a job and accept "
                     "again."),
    # federation: peers, keys and the signed API between platforms
    "invalid_peer_card": N_("This is not a peer card. Ask the peer's operator for the whole line that "
                            "`suanli federation identity` prints."),
    "invalid_peer_identity": N_("The peer's identity is not valid (its keys do not match their ids, or a field is "
                                "missing)."),
    "unknown_scope": N_("Unknown scope; the scopes are %(valid_values)s."),
    "peer_is_self": N_("This card is this platform's own."),
    "endpoint_invalid": N_("The peer's address is not a valid http(s) URL, or its host cannot be resolved."),
    "peer_exists": N_("This platform is a peer already."),
    "key_of_another_platform": N_("This key belongs to another platform."),
    "peer_not_found": N_("There is no such peer."),
    "peer_revoked": N_("This peer is revoked, for good."),
    "peer_suspended": N_("This peer is suspended for now."),
    "federation_not_set_up": N_("This platform has no federation key yet: run `suanli federation identity` once."),
    "invalid_policy": N_("Choose how much to show: %(valid_values)s."),
    "peer_unreachable": N_("The peer platform could not be reached. Try again later."),
    "peer_response_refused": N_("The peer's answer was not signed as it must be, so none of it was used."),
    "peer_refused": N_("The peer platform refused the request (%(peer_code)s)."),
    "signature_missing": N_("The request is not signed."),
    "signature_malformed": N_("The request's signature cannot be read."),
    "signature_incomplete": N_("The request's signature does not cover all it must."),
    "signature_invalid": N_("The request's signature does not match it."),
    "unknown_key": N_("The request is signed with a key no peer of this platform has."),
    "key_expired": N_("The request is signed with a key whose grace period is over."),
    "signature_expired": N_("The request's signature is too old."),
    "signature_from_future": N_("The request's signature is dated in the future."),
    "body_tampered": N_("The request's body was changed after it was signed."),
    "signature_replayed": N_("This signed request was received before."),
    "scope_missing": N_("The peer may not do this here (a scope is missing)."),
    # requests for quotes and pre-sale contracts (suanli.quotes)
    "invalid_term_hours": N_("An on-demand request needs its term in hours, from 1 to %(max_hours)s; a reserved one "
                             "takes months."),
    "need_unspecified": N_("Name a chip, or the minimum compute and memory per accelerator you need."),
    "invalid_window": N_("The earliest start is after the latest start."),
    "start_in_the_past": N_("The earliest start must be in the future."),
    "start_too_far": N_("The latest start may be at most a year ahead."),
    "invalid_auction_deadline": N_("The auction must close in the future and at the latest at the earliest start."),
    "request_not_found": N_("This request for quotes does not exist, or it is not open to you."),
    "request_closed": N_("This request is no longer open: a quote was awarded, or it was cancelled or expired."),
    "quote_not_found": N_("This quote does not exist."),
    "quote_withdrawn": N_("This quote was withdrawn by its seller."),
    "quote_stale": N_("This quote's delivery date has passed; choose another quote."),
    "quote_not_standing": N_("Only a standing quote can be withdrawn; this one has won or lost."),
    "auction_closed": N_("This request's reverse auction has closed."),
    "already_quoted": N_("You already have a standing quote on this request; withdraw it to quote again."),
    "datacenter_not_approved": N_("Quote from an approved data center: an operator approves it first."),
    "contract_not_found": N_("This contract does not exist, or it is not open to you."),
    "contract_not_awaiting_delivery": N_("This contract is not awaiting delivery."),
    "delivery_overdue": N_("The delivery date has passed: the contract fails and the deposit is refunded."),
    "product_not_listed": N_("The product is not listed in the catalog yet: list it first (its data center approved)."),
    "capacity_mismatch": N_("The product is not the quoted chip with the quoted accelerators per unit."),
    "cluster_not_registered": N_("The product runs on no registered, enabled cluster: register its cluster first."),
    "cluster_unhealthy": N_("The product's cluster has not passed a health check yet."),
    "stock_below_contract": N_("The product has fewer units in stock than the contract needs."),
    "chip_mismatch": N_("The chip is not the one the buyer asked for."),
    "compute_below_minimum": N_("The chip's FP16 compute is below the buyer's minimum."),
    "memory_below_minimum": N_("The chip's memory is below the buyer's minimum."),
    "too_few_accelerators": N_("A unit has fewer accelerators than the buyer asked for."),
    "region_mismatch": N_("The data center is not in the region the buyer asked for."),
    "price_above_maximum": N_("The unit price is above the buyer's maximum."),
    "start_outside_window": N_("The start is outside the buyer's window."),
    "delivery_after_start": N_("The delivery date must be at the latest the start."),
    "delivery_in_the_past": N_("The delivery date must be in the future."),
}


def placeholders(message: str) -> set[str]:
    """The ``%(name)s`` names of a message."""
    return set(_PLACEHOLDER.findall(message))


def detail_values(details: Mapping[str, Any]) -> dict[str, str]:
    """An error's details as text for a message: ``*_fen`` amounts as yuan, lists joined with commas."""
    values: dict[str, str] = {}
    for key, value in details.items():
        if key.endswith("_fen") and isinstance(value, int) and not isinstance(value, bool):
            values[key] = format_money(value)
        elif isinstance(value, (list, tuple)):
            values[key] = ", ".join(str(v) for v in value)
        else:
            values[key] = str(value)
    return values


def domain_message(exc: DomainError, _: Callable[..., str]) -> str | None:
    """The page's words for a service's refusal in the request's language (``_``), or None when its code has no
    message here (or its details lack a value the message needs): then the page shows the service's own."""
    message = DOMAIN_MESSAGES.get(exc.code)
    if message is None:
        return None
    text = _(message)
    if not placeholders(message):
        return text
    try:
        return text % detail_values(exc.details if isinstance(exc.details, Mapping) else {})
    except (KeyError, ValueError, TypeError):
        return None
