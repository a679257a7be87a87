/*
 * preset: the provider table.
 *
 * Limits, and why (PROVIDERS.md):
 *   mail.ru  nothing published; observed: slow after ~120 messages, 553 after ~182,
 *            then ~5/hour for days. 60/hour, 150/day keeps well clear of both.
 *   yandex   published 500 recipients/24 h and 35 per message; observed 550 after ~90
 *            messages. 40/hour, 80/day (recipients).
 *   gmail    free: more than 500 recipients a day blocks for 1-24 h; 100 recipients per
 *            message from a client. 100/hour, 400/day (recipients).
 *   rambler  nothing published; From: must be the login. 30/hour, 100/day.
 *   outlook  free accounts about 300 recipients a day. 60/hour, 250/day.
 * Each minimum interval smooths bursts: providers punish many sends in a row.
 */
#include <stddef.h>
#include <string.h>

#include "preset.h"

#define MB	(1024ULL * 1024)

/*
 * The rules match the normalised reply (outcome.h): a multi-line reply looks like a
 * one-line one. A limit can come at MAIL, at RCPT (then every recipient gets it;
 * outcome_all_refused makes that a throttle even without a rule here) or after DATA.
 * Rules for bare codes stop at an enhanced code, so "550 5.1.1 user unknown" still
 * fails only its recipient; a throttle on a bare code at RCPT or DATA is a guess and
 * bounded (OUTCOME_GUESS_MAX).
 */
static const struct preset_rule preset_rules_mailru[] = {
	/* before the 553 throttle: a sender the login does not own is a config error */
	{ "^55[0-9] .*(sender address rejected|not owned by)", "any", "disable" },
	{ "^550 .*(sending|message sending) for this account is disabled", "any", "disable" },
	/* "the server does not want to send" after many sends: a quota, not a bad sender */
	{ "^553( |$)", "mail", "throttle" },
	{ "^553($| [^0-9])", "rcpt", "throttle" },
	{ "^553($| [^0-9])", "data", "throttle" },
	{ NULL, NULL, NULL },
};

static const struct preset_rule preset_rules_yandex[] = {
	{ "^55[0-9] .*(sender address rejected|not owned by)", "any", "disable" },
	/* its limit is a plain 550, at any stage (PROVIDERS.md) */
	{ "^550( |$)", "mail", "throttle" },
	{ "^550($| [^0-9])", "rcpt", "throttle" },
	{ "^550($| [^0-9])", "data", "throttle" },
	{ "^55[0-9] .*(limit|too many|frequency)", "any", "throttle" },
	{ NULL, NULL, NULL },
};

static const struct preset_rule preset_rules_gmail[] = {
	{ "^550 5\\.4\\.5", "any", "throttle" },	/* Daily user sending limit exceeded */
	{ "^(421|454) 4\\.(7\\.0|3\\.0)", "any", "throttle" },	/* too many sessions or logins */
	{ NULL, NULL, NULL },
};

static const struct preset_rule preset_rules_rambler[] = {
	{ "^550 5\\.7\\.1 .*spam message rejected", "any", "fail" },
	{ NULL, NULL, NULL },
};

static const struct preset_rule preset_rules_outlook[] = {
	/* 554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException */
	{ "^(550|554) 5\\.2\\.0 .*(outboundspam|sending limit|daily|quota)", "any", "throttle" },
	{ "^5[0-9][0-9] 5\\.7\\.3 .*(blocked|disabled)", "any", "disable" },
	{ NULL, NULL, NULL },
};

static const struct preset presets[] = {
	{ "mail.ru", "smtp.mail.ru", 465, CONFIG_TLS_IMPLICIT, "imap.mail.ru",
	  60, 150, 1, 10, 30, 30 * MB, preset_rules_mailru, 0.5, 2, 48 },
	{ "yandex", "smtp.yandex.ru", 465, CONFIG_TLS_IMPLICIT, "imap.yandex.ru",
	  40, 80, 1, 10, 35, 30 * MB, preset_rules_yandex, 0.5, 2, 48 },
	{ "gmail", "smtp.gmail.com", 465, CONFIG_TLS_IMPLICIT, "imap.gmail.com",
	  100, 400, 1, 5, 100, 25 * MB, preset_rules_gmail, 0, 0, 0 },
	{ "rambler", "smtp.rambler.ru", 465, CONFIG_TLS_IMPLICIT, "imap.rambler.ru",
	  30, 100, 1, 10, 30, 20 * MB, preset_rules_rambler, 0, 0, 0 },
	{ "outlook", "smtp-mail.outlook.com", 587, CONFIG_TLS_STARTTLS, "outlook.office365.com",
	  60, 250, 1, 5, 100, 20 * MB, preset_rules_outlook, 0, 0, 0 },
};

const struct preset *
preset_find(const char *name)
{
	for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
		if (strcmp(presets[i].name, name) == 0)
			return &presets[i];
	return NULL;
}

/*
 * OAuth 2.0 endpoints (PROVIDERS.md). Google's device flow does not allow mail scopes,
 * so Gmail has only the code flow; Outlook's device flow suits a headless host.
 * Rambler offers no OAuth for mail.
 */
static const struct preset_oauth preset_oauths[] = {
	{ "gmail", "https://oauth2.googleapis.com/token", NULL,
	  "https://accounts.google.com/o/oauth2/v2/auth", "https://mail.google.com/" },
	{ "outlook", "https://login.microsoftonline.com/common/oauth2/v2.0/token",
	  "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
	  "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
	  "https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All "
	  "offline_access" },
	{ "yandex", "https://oauth.yandex.ru/token", NULL, "https://oauth.yandex.ru/authorize",
	  "mail:smtp mail:imap_full" },
	{ "mail.ru", "https://oauth.mail.ru/token", NULL, "https://oauth.mail.ru/login",
	  "mail.imap" },
};

const struct preset_oauth *
preset_oauth_find(const char *name)
{
	for (size_t i = 0; i < sizeof(preset_oauths) / sizeof(preset_oauths[0]); i++)
		if (strcmp(preset_oauths[i].name, name) == 0)
			return &preset_oauths[i];
	return NULL;
}

const char *
preset_names(void)
{
	return "\"mail.ru\", \"yandex\", \"gmail\", \"rambler\", \"outlook\"";
}
