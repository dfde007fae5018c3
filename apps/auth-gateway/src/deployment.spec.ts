// The environment the image, infra/compose.platform.yaml and infra/k8s/auth-gateway set is one this service accepts.
import { describeDeployedEnv } from '@ais/testing';
import { schema } from './config';

describeDeployedEnv('auth-gateway', schema);
