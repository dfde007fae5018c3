// The environment the image, infra/compose.platform.yaml and infra/k8s/data-fetcher set is one this service accepts.
import { describeDeployedEnv } from '@ais/testing';
import { schema } from './config';

describeDeployedEnv('data-fetcher', schema);
