/** LTI 1.3 and AGS claim names (1EdTech LTI Core 1.3, Assignment and Grade Services 2.0). */
const LTI = 'https://purl.imsglobal.org/spec/lti/claim/';
export const CLAIM = {
  messageType: `${LTI}message_type`,
  version: `${LTI}version`,
  deploymentId: `${LTI}deployment_id`,
  targetLinkUri: `${LTI}target_link_uri`,
  resourceLink: `${LTI}resource_link`,
  roles: `${LTI}roles`,
  context: `${LTI}context`,
  ags: 'https://purl.imsglobal.org/spec/lti-ags/claim/endpoint',
} as const;

export const LTI_VERSION = '1.3.0';
export const RESOURCE_LINK_REQUEST = 'LtiResourceLinkRequest';

/** Signature algorithms we accept from platforms. Never `none`, never HMAC. */
export const ALLOWED_ALGS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384'] as const;
